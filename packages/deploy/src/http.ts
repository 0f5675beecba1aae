import type { HttpClient, HttpResponse } from "./runtime.js";

/** HTTP to the services' published loopback ports, with a deadline on every request. */
export const fetchHttpClient: HttpClient = {
  async request(url, init): Promise<HttpResponse> {
    const response = await fetch(url, {
      method: init.method ?? "GET",
      headers: init.headers,
      body: init.body,
      signal: AbortSignal.timeout(init.timeoutMs),
    });
    return { status: response.status, text: await response.text() };
  },
};
