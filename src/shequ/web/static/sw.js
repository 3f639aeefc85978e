/* Shequ's service worker, served at /sw.js after one line of settings (self.SHEQU_OFFLINE:
 * the precache list, the offline sign-in bound in hours, the saved pages' patterns), see
 * shequ/web/offline.py.  Built from Workbox's modules, served by Shequ itself.
 *
 * - The app shell (CSS, scripts, icons, the /offline page) is precached by content hash.
 * - For a signed-in worker (static/offline.js records who and since when in IndexedDB),
 *   the pages of their own jurisdiction are fetched network-first and kept, so a device
 *   without signal still shows the queue, each request, the workbench and /upkeep; a
 *   kept page is shown only within the bound after the last sign-in the server confirmed.
 * - Any other page asked for without signal is the /offline page.
 * - Signing out (the sign-in page, drawn after it) wipes the caches and IndexedDB.
 */
/* global workbox */
"use strict";

importScripts(
  "/static/vendor/workbox/workbox-core.prod.js",
  "/static/vendor/workbox/workbox-routing.prod.js",
  "/static/vendor/workbox/workbox-strategies.prod.js",
  "/static/vendor/workbox/workbox-precaching.prod.js"
);

const settings = self.SHEQU_OFFLINE || { precache: [], signinHours: 72, savedPages: [] };
const saved = settings.savedPages.map((pattern) => new RegExp(pattern));
const PAGES = "shequ-pages";
const DB_NAME = "shequ-offline";

workbox.core.setCacheNameDetails({ prefix: "shequ" });
self.addEventListener("install", () => self.skipWaiting());
workbox.core.clientsClaim();

// ---- IndexedDB: who is signed in on this device, and since when -------------------------

function openDb() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "key" });
      if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta", { keyPath: "name" });
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function signedIn() {
  try {
    const db = await openDb();
    const record = await new Promise((resolve, reject) => {
      const get = db.transaction("meta").objectStore("meta").get("session");
      get.onsuccess = () => resolve(get.result);
      get.onerror = () => reject(get.error);
    });
    db.close();
    return Boolean(record && record.user &&
      Date.now() - record.signedInAt <= settings.signinHours * 3600 * 1000);
  } catch (error) {
    return false;
  }
}

// ---- routes -------------------------------------------------------------------------------

workbox.precaching.precacheAndRoute(settings.precache);
workbox.precaching.cleanupOutdatedCaches();

// A page is kept under its address without the one-off message (?msg=…).
function pageKey(url) {
  const key = new URL(url);
  key.searchParams.delete("msg");
  key.searchParams.delete("lang");
  key.hash = "";
  return key.href;
}

const keptForTheWorker = {
  cacheKeyWillBeUsed: async ({ request }) => pageKey(request.url),
  cacheWillUpdate: async ({ response }) =>
    response && response.status === 200 && !response.redirected && (await signedIn())
      ? response : null,
  cachedResponseWillBeUsed: async ({ cachedResponse }) =>
    cachedResponse && (await signedIn()) ? cachedResponse : null,
};

const pages = new workbox.strategies.NetworkFirst({
  cacheName: PAGES, networkTimeoutSeconds: 8, plugins: [keptForTheWorker],
});

workbox.routing.registerRoute(
  ({ request, url }) => request.mode === "navigate" && url.origin === self.location.origin &&
    saved.some((pattern) => pattern.test(url.pathname)),
  pages
);
workbox.routing.registerRoute(
  ({ url }) => url.origin === self.location.origin && url.pathname.startsWith("/static/"),
  new workbox.strategies.StaleWhileRevalidate({ cacheName: "shequ-static" })
);
// A form posted without signal is queued in the device's outbox (static/offline.js sends
// it when the connection returns, with its idempotency key) and the worker is sent back to
// the page they posted from, kept on the device, which says so.
const NEVER_QUEUED = [/^\/login/, /^\/logout/, /^\/account\//];

async function putOutbox(entry) {
  const db = await openDb();
  try {
    await new Promise((resolve, reject) => {
      const transaction = db.transaction("outbox", "readwrite");
      transaction.objectStore("outbox").put(entry);
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

async function sendOrQueue({ request }) {
  const copy = request.clone();
  try {
    return await fetch(request);
  } catch (error) {
    if (!(await signedIn())) return Response.error();
  }
  const fields = new URLSearchParams(await copy.text());
  const key = fields.get("idempotency_key") || self.crypto.randomUUID();
  fields.set("idempotency_key", key);
  const url = new URL(copy.url);
  await putOutbox({ key: key, method: "POST", url: url.pathname + url.search,
    body: fields.toString(), created: Date.now(), status: "waiting", reason: "",
    from: copy.referrer || "" });
  const back = new URL(copy.referrer || "/offline/outbox", self.location.origin);
  back.searchParams.set("msg", "offline.queued");
  back.hash = "";
  return Response.redirect(back.href, 303);
}

workbox.routing.registerRoute(
  ({ request, url }) => request.mode === "navigate" && url.origin === self.location.origin &&
    !NEVER_QUEUED.some((pattern) => pattern.test(url.pathname)) &&
    (request.headers.get("content-type") || "").startsWith("application/x-www-form-urlencoded"),
  sendOrQueue,
  "POST"
);
workbox.routing.setDefaultHandler(new workbox.strategies.NetworkOnly());
workbox.routing.setCatchHandler(async ({ request }) => {
  if (request.mode === "navigate") {
    const page = await workbox.precaching.matchPrecache("/offline");
    if (page) return page;
  }
  return Response.error();
});

// ---- messages from the pages --------------------------------------------------------------

async function warm(urls) {
  if (!(await signedIn())) return;
  const cache = await caches.open(PAGES);
  for (const url of urls.slice(0, 60)) {
    const target = new URL(url, self.location.origin);
    if (target.origin !== self.location.origin ||
        !saved.some((pattern) => pattern.test(target.pathname))) continue;
    try {
      const response = await fetch(target.href, { credentials: "same-origin" });
      if (response.status === 200 && !response.redirected) {
        await cache.put(pageKey(target.href), response);
      }
    } catch (error) {
      return; // no signal: the pages stay as they were kept
    }
  }
}

async function wipe() {
  for (const name of await caches.keys()) await caches.delete(name);
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  let work = null;
  if (data.type === "warm" && Array.isArray(data.urls)) work = warm(data.urls);
  if (data.type === "wipe") work = wipe();
  if (work) {
    event.waitUntil(work.then(() => {
      if (event.ports && event.ports[0]) event.ports[0].postMessage({ done: data.type });
    }));
  }
});
