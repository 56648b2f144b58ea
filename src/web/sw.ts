/**
 * The web app's service worker: keeps the page's own files (index.html, app.js, worker.js, sw.js,
 * tensorshrink.wasm) so the page works offline once it has loaded. Network first (a rebuilt page is
 * picked up at once), the cached copy when the network fails. Any other request — a model URL, its
 * range requests — is not touched: models are never cached.
 */
const CACHE = "tensorshrink-web-v1";
const FILES = ["./", "index.html", "app.js", "worker.js", "tensorshrink.wasm"];
const sw = self as unknown as { addEventListener: (t: string, f: (e: any) => void) => void; registration: { scope: string }; skipWaiting(): Promise<void>; clients: { claim(): Promise<void> } };

const own = (url: string) => {
  const scope = new URL(sw.registration.scope);
  const u = new URL(url);
  if (u.origin !== scope.origin || !u.pathname.startsWith(scope.pathname)) return false;
  const rest = u.pathname.slice(scope.pathname.length);
  return FILES.includes(rest || "./") && !u.search;
};

sw.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => sw.skipWaiting()));
});
sw.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => sw.clients.claim()));
});
sw.addEventListener("fetch", (e) => {
  const req: Request = e.request;
  if (req.method !== "GET" || req.headers.has("range") || !own(req.url)) return;
  e.respondWith((async () => {
    try {
      const res = await fetch(req);
      if (res.ok) { const copy = res.clone(); caches.open(CACHE).then((c) => c.put(req, copy)).catch(() => undefined); }
      return res;
    } catch (err) {
      const hit = await caches.match(req);
      if (hit) return hit;
      throw err;
    }
  })());
});
