/**
 * Where the admin API may point the gateway. A registered backend receives the bearer secret it
 * names and every request routed to it, so a URL must not reach the cloud's metadata service
 * (link-local), carry credentials or a query (API paths are appended to it), or loop back into this machine or the gateway itself, unless a
 * local setup says loopback is expected (ALLOW_LOOPBACK_BACKENDS, set by `moxie dev` and the tests).
 */
export function backendUrlProblem(
  url: string,
  options: { allowLoopback: boolean; gatewayHost: string },
): string | null {
  const parsed = new URL(url);
  if (parsed.username || parsed.password)
    return "a backend URL may not carry credentials: name a secret in secret_name instead";
  // In the URL API's spelling, '?' and '#' appear only as a query's or a fragment's start.
  if (/[?#]/.test(parsed.href))
    return "a backend URL may not have a query or a fragment: the gateway appends API paths to it";
  if (parsed.host === options.gatewayHost) return "a backend URL may not point at the gateway itself";
  const host = parsed.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const ipv4 = ipv4Of(host);
  if ((ipv4 && ipv4[0] === 169 && ipv4[1] === 254) || /^fe[89ab][0-9a-f]:/.test(host)) {
    return "a backend URL may not be link-local (169.254.0.0/16, fe80::/10): that is where cloud metadata services answer";
  }
  const loopback =
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "::1" ||
    host === "::" ||
    ipv4?.[0] === 127 ||
    (ipv4 !== null && ipv4.every((part) => part === 0));
  if (loopback && !options.allowLoopback)
    return "a loopback backend URL needs ALLOW_LOOPBACK_BACKENDS=true (local setups only)";
  return null;
}

/** The four bytes of a dotted IPv4 address, also when written IPv4-mapped in IPv6 (::ffff:a9fe:a9fe). */
function ipv4Of(host: string): number[] | null {
  const dotted = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (dotted) return dotted.slice(1).map(Number);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return null;
  const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff];
}
