import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Listens on 127.0.0.1 (port 0: a free one); answers the port, or rejects when it cannot listen. */
async function listenOnLoopback(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Stops listening and cuts every connection at once, as a receiver that goes away does (runtime's
 * closeServer is the service's graceful stop: it lets requests in flight finish).
 */
async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * The HTTP server inside a stand-in: started on a free loopback port, stopped with every connection,
 * and started again on the same port (a receiver that goes away and comes back).
 */
export class LoopbackServer {
  private server: Server | null = null;
  private lastPort = 0;

  /** The port it listens on, or listened on last; 0 before the first start. */
  get port(): number {
    return this.lastPort;
  }

  get listening(): boolean {
    return this.server !== null;
  }

  async start(listener: RequestListener): Promise<void> {
    const server = createServer(listener);
    this.lastPort = await listenOnLoopback(server, this.lastPort);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await closeServer(server);
  }
}
