import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1/localhost, made with
 * openssl in a temp dir, so a test can run redis-server with TLS and have the services trust it
 * through NODE_EXTRA_CA_CERTS (which Node reads at start-up).
 */

export interface ThrowawayTls {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
}

export function redisSupportsTls(): { ok: boolean; why: string } {
  try {
    // A TLS-less build refuses the option outright; a TLS build complains about the missing files.
    execFileSync("redis-server", ["--port", "0", "--tls-port", "1", "--tls-cert-file", "/nonexistent"], {
      stdio: "pipe",
      timeout: 5000,
    });
    return { ok: false, why: "redis-server started without its TLS files, which it should refuse" };
  } catch (error) {
    const output = `${(error as { stdout?: Buffer }).stdout ?? ""}${(error as { stderr?: Buffer }).stderr ?? ""}`;
    if (/Failed to configure TLS|tls-ca-cert|TLS/i.test(output) && !/Bad directive|unknown/i.test(output)) {
      return { ok: true, why: "" };
    }
    return {
      ok: false,
      why: `redis-server --tls-port is not supported by this build: ${output.slice(0, 300)}`,
    };
  }
}

export function makeThrowawayTls(): ThrowawayTls {
  const dir = mkdtempSync(join(tmpdir(), "fogis-tls-"));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe", timeout: 20_000 });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    "req",
    "-x509",
    ...ecKey,
    "-keyout",
    path("ca.key"),
    "-out",
    path("ca.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=FOGIS reliability test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  openssl(
    "req",
    ...ecKey,
    "-keyout",
    path("server.key"),
    "-out",
    path("server.csr"),
    "-subj",
    "/CN=localhost",
  );
  writeFileSync(
    path("server.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  openssl(
    "x509",
    "-req",
    "-in",
    path("server.csr"),
    "-CA",
    path("ca.crt"),
    "-CAkey",
    path("ca.key"),
    "-CAcreateserial",
    "-out",
    path("server.crt"),
    "-days",
    "2",
    "-extfile",
    path("server.ext"),
  );
  return { dir, caCert: path("ca.crt"), serverCert: path("server.crt"), serverKey: path("server.key") };
}
