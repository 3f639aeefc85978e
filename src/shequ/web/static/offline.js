/* Shequ without signal: the device's outbox of writes, and the service worker's helper.
 *
 * - Registers the service worker (/sw.js), and for a signed-in worker records in
 *   IndexedDB who is signed in and when the server last confirmed it (the worker's kept
 *   pages are shown offline only within the configured bound after that).
 * - A form posted while the device has no signal is not lost: it is queued in IndexedDB
 *   (store "outbox") with an idempotency key (a UUID), its method, address, body, the time
 *   and a status (waiting, sent, failed, conflict, dropped), and sent when the connection
 *   returns with the key in an Idempotency-Key header, so the server applies it once.  A
 *   form posted online carries a key too (a hidden idempotency_key field).
 * - A write refused because the record changed meanwhile (409) keeps the server's version
 *   beside the worker's: the outbox page (/offline/outbox) shows both and the worker
 *   chooses to send theirs again (against the new version) or to keep the server's.
 * - A request's workflow steps still waiting on the device are shown on the kept pages
 *   they were made from (the queue, the request): the request in the state the steps will
 *   put it in, marked as waiting to be sent, with that state's steps offered, so a worker
 *   without signal accepts a request and then resolves it.  The first step's answer gives
 *   the later ones the version it made (nextVersion), so they are not refused as
 *   conflicts with it.
 * - The sign-in page, drawn after signing out, wipes the caches and IndexedDB.
 * Words come from the layout (#offline-texts data-*), no markup is built from data.
 */
(function () {
  "use strict";

  const DB_NAME = "shequ-offline";
  const body = document.body;
  const user = body.dataset.offlineUser || "";
  const textsElement = document.getElementById("offline-texts");
  const texts = textsElement ? textsElement.dataset : {};
  // Fields of a queued form that are not what the worker wrote.
  const HIDDEN_FIELDS = new Set(["csrf_token", "seen_version", "idempotency_key", "back", "code"]);
  // Forms that are never queued: signing in and out, and the account's own forms.
  const NEVER_QUEUED = [/^\/login/, /^\/logout/, /^\/account\//];

  function say(key, fallback) {
    return texts[key] || fallback;
  }

  // ---- IndexedDB ----------------------------------------------------------------------

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

  async function withStore(name, mode, work) {
    const db = await openDb();
    try {
      return await new Promise((resolve, reject) => {
        const transaction = db.transaction(name, mode);
        const request = work(transaction.objectStore(name));
        transaction.oncomplete = () => resolve(request ? request.result : undefined);
        transaction.onerror = () => reject(transaction.error);
      });
    } finally {
      db.close();
    }
  }

  const store = {
    all: () => withStore("outbox", "readonly", (s) => s.getAll())
      .then((items) => (items || []).sort((a, b) => a.created - b.created)),
    put: (entry) => withStore("outbox", "readwrite", (s) => s.put(entry)),
    meta: (name) => withStore("meta", "readonly", (s) => s.get(name)),
    putMeta: (record) => withStore("meta", "readwrite", (s) => s.put(record)),
  };

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // ---- signing in and out ---------------------------------------------------------------

  async function wipe() {
    if ("caches" in window) {
      for (const name of await caches.keys()) await caches.delete(name);
    }
    await new Promise((resolve) => {
      const request = indexedDB.deleteDatabase(DB_NAME);
      request.onsuccess = request.onerror = request.onblocked = () => resolve();
    });
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "wipe" });
    }
  }

  // The sign-in the server last confirmed: the time it drew this page (a page the
  // service worker kept shows its old time, so it never extends the offline bound).
  async function remember() {
    const known = await store.meta("session");
    const drawn = Number(texts.drawn || 0);
    if (known && known.user !== user) await wipe();  // another person signed in here
    else if (known && known.signedInAt >= drawn) return;
    await store.putMeta({ name: "session", user: user, role: body.dataset.offlineRole || "",
      signedInAt: drawn });
  }

  // The worker's pages kept on the device: these, and the requests, rounds and forms
  // the page in front of them links to (the service worker keeps only its own list).
  const SAVED_LINKS = [/^\/services\/requests\/\d+$/, /^\/reporting\/rounds\/\d+$/,
    /^\/reporting\/rounds\/\d+\/forms\/\d{12}$/];

  function savedPagesHere() {
    const urls = ["/work", "/services/queue", "/upkeep", "/offline/outbox", "/volunteers/manage",
      "/reporting"];
    for (const link of document.querySelectorAll("a[href^='/']")) {
      const path = new URL(link.href).pathname;
      if (SAVED_LINKS.some((re) => re.test(path)) && !urls.includes(path)) urls.push(path);
    }
    return urls.slice(0, 60);
  }

  // Each page is fetched for keeping at most once in WARM_AGAIN (the pages the worker
  // opens are kept anew as they are drawn), so the server is not asked for every link of
  // every page.
  const WARM_AGAIN = 15 * 60 * 1000;

  async function warm() {
    if (!navigator.serviceWorker) return;
    const registration = await navigator.serviceWorker.ready;
    const worker = registration.active;
    if (!worker) return;
    const warmed = (await store.meta("warmed")) || { name: "warmed", at: {} };
    const now = Date.now();
    const urls = savedPagesHere().filter((url) => !(now - (warmed.at[url] || 0) < WARM_AGAIN));
    if (urls.length) {
      await new Promise((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => resolve();
        worker.postMessage({ type: "warm", urls: urls }, [channel.port2]);
        window.setTimeout(resolve, 20000);
      });
      for (const url of urls) warmed.at[url] = now;
      await store.putMeta(warmed);
    }
    body.dataset.offlineReady = "true";  // the worker's pages are kept on this device
  }

  // ---- queueing and sending ---------------------------------------------------------------

  function queueable(form) {
    const method = (form.getAttribute("method") || "get").toLowerCase();
    const enctype = (form.getAttribute("enctype") || "").toLowerCase();
    const url = new URL(form.getAttribute("action") || window.location.href, window.location.href);
    return user && method === "post" && enctype !== "multipart/form-data" &&
      url.origin === window.location.origin && !NEVER_QUEUED.some((re) => re.test(url.pathname));
  }

  // Every form a worker posts carries a new idempotency key: sent now, or queued by the
  // service worker when there is no signal, it is applied once.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented || !queueable(form)) return;
    let key = form.querySelector("input[name=idempotency_key]");
    if (!key) {
      key = document.createElement("input");
      key.type = "hidden";
      key.name = "idempotency_key";
      form.append(key);
    }
    key.value = uuid();
  });

  // Back from a form the service worker queued: say so above the page.
  function queuedNotice() {
    const params = new URLSearchParams(window.location.search);
    const main = document.getElementById("main");
    if (params.get("msg") !== "offline.queued" || !main ||
        main.querySelector("[data-testid=message]")) return;
    const note = document.createElement("p");
    note.className = "notice ok";
    note.setAttribute("role", "status");
    note.dataset.testid = "offline-queued";
    note.textContent = say("queued", "Saved on this device; it will be sent when the connection returns.");
    const link = document.createElement("a");
    link.href = "/offline/outbox";
    link.textContent = ` ${say("outbox", "Outbox")}`;
    note.append(link);
    main.prepend(note);
  }

  function csrfNow() {
    const field = document.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  function reasonOf(html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const found = doc.querySelector(".error-summary, [role=alert], .notice.bad, main p");
    return found ? found.textContent.replace(/\s+/g, " ").trim().slice(0, 500) : "";
  }

  async function send(entry) {
    let response;
    try {
      response = await fetch(entry.url, {
        method: entry.method, body: entry.body, credentials: "same-origin", redirect: "follow",
        headers: { "Content-Type": "application/x-www-form-urlencoded",
          "Idempotency-Key": entry.key, "X-CSRF-Token": csrfNow() },
      });
    } catch (error) {
      return false;  // still no signal: stays waiting
    }
    entry.tried = Date.now();
    if (response.ok && new URL(response.url).pathname === "/login") {
      entry.status = "waiting";  // the sign-in ended: sent again once signed in
      entry.reason = say("signIn", "Sign in again to send it.");
    } else if (response.ok) {
      entry.status = "sent";
      entry.reason = "";
      await nextVersion(entry, await response.text());
    } else if (response.status === 409) {
      entry.status = "conflict";
      entry.reason = reasonOf(await response.text());
      try {
        const current = await fetch(`/api/v1/offline/current?path=${encodeURIComponent(entry.url.split("?")[0])}`,
          { credentials: "same-origin", headers: { Accept: "application/json" } });
        entry.server = current.ok ? await current.json() : null;
      } catch (error) {
        entry.server = null;
      }
    } else if (response.status === 401 || response.status === 403) {
      entry.status = "waiting";
      entry.reason = say("signIn", "Sign in again to send it.");
    } else {
      entry.status = "failed";
      entry.reason = reasonOf(await response.text()) || `HTTP ${response.status}`;
    }
    await store.put(entry);
    return true;
  }

  // A later write queued against the same record was made on the same saved page, so it
  // names the version before this one: it now names the version this one made (read from
  // the page the server answered with), and is not refused as a conflict with itself.
  async function nextVersion(entry, html) {
    const path = entry.url.split("?")[0];
    const seen = new URLSearchParams(entry.body).get("seen_version");
    if (!seen) return;
    const doc = new DOMParser().parseFromString(html, "text/html");
    const form = Array.from(doc.querySelectorAll("form[method=post]")).find((f) =>
      new URL(f.getAttribute("action") || "", window.location.href).pathname === path);
    const field = form ? form.querySelector("input[name=seen_version]") : null;
    if (!field || !field.value) return;
    for (const later of await store.all()) {
      const fields = new URLSearchParams(later.body);
      if (later.status !== "waiting" || later.key === entry.key ||
          later.url.split("?")[0] !== path || fields.get("seen_version") !== seen) continue;
      fields.set("seen_version", field.value);
      later.body = fields.toString();
      await store.put(later);
    }
  }

  // ---- steps waiting on the device, shown on the page they were made from ----------------

  const ACT_PATH = /^\/services\/requests\/(\d+)\/act$/;

  function option(value, text) {
    const element = document.createElement("option");
    element.value = value;
    element.textContent = text;
    return element;
  }

  // The request's form offers the steps of its new state, with what waits said above it.
  function redrawActions(form, id, status, moves, steps) {
    form.dataset.status = status;
    form.dataset.pending = "true";
    const allowed = moves[status] || [];
    const select = form.querySelector("select[name=action]");
    if (select) {
      select.replaceChildren(...allowed.map(([action]) => option(action, say(`action_${action}`, action))));
      select.disabled = allowed.length === 0;
    }
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = allowed.length === 0;
    let note = document.querySelector(`[data-testid="pending-${id}"]`);
    if (!note) {
      note = document.createElement("p");
      note.className = "notice";
      note.setAttribute("role", "status");
      note.dataset.testid = `pending-${id}`;
      form.before(note);
    }
    const link = document.createElement("a");
    link.href = "/offline/outbox";
    link.textContent = say("outbox", "Outbox");
    note.replaceChildren(document.createTextNode(
      `${say("pendingSteps", "Steps waiting on this device to be sent:")} ` +
      `${steps.map((action) => say(`action_${action}`, action)).join(" → ")} · `), link);
  }

  // Each request with workflow steps waiting on the device is shown in the state they lead
  // to (from the state the page was drawn in), marked as waiting to be sent.
  async function showPending() {
    let moves;
    try {
      moves = JSON.parse(texts.moves || "{}");
    } catch (error) {
      return;
    }
    const steps = new Map();
    for (const entry of await store.all()) {
      const match = ACT_PATH.exec(entry.url.split("?")[0]);
      const action = new URLSearchParams(entry.body).get("action");
      if (entry.status !== "waiting" || !match || !action) continue;
      steps.set(match[1], [...(steps.get(match[1]) || []), action]);
    }
    for (const [id, actions] of steps) {
      const form = document.querySelector(`form[data-testid="act-form-${id}"]`);
      const shown = document.querySelectorAll(`[data-request-status="${id}"]`);
      let status = (form && form.dataset.savedStatus) || (form && form.dataset.status) ||
        (shown.length ? shown[0].dataset.savedStatus || shown[0].dataset.status : "");
      if (!status) continue;
      if (form && !form.dataset.savedStatus) form.dataset.savedStatus = form.dataset.status;
      for (const action of actions) {
        const move = (moves[status] || []).find(([step]) => step === action);
        if (move) status = move[1];
      }
      for (const element of shown) {
        if (!element.dataset.savedStatus) element.dataset.savedStatus = element.dataset.status;
        element.dataset.status = status;
        element.dataset.pending = "true";
        element.textContent = `${say(`status_label_${status}`, status)} · ${say("pending", "waiting to be sent")}`;
      }
      if (form) redrawActions(form, id, status, moves, actions);
    }
    // Steps shown as waiting that have been sent since: said so, and the form waits for the
    // page to be drawn again by the server (it holds the version before them).
    for (const element of document.querySelectorAll("[data-pending=true]")) {
      const id = element.dataset.requestStatus ||
        (element.dataset.testid || "").replace("act-form-", "");
      if (steps.has(id)) continue;
      element.dataset.pending = "sent";
      if (element.dataset.requestStatus) {
        element.textContent = `${say(`status_label_${element.dataset.status}`, element.dataset.status)} · ${say("status_sent", "Sent")}`;
      } else {
        const button = element.querySelector("button[type=submit]");
        if (button) button.disabled = true;
        const note = document.querySelector(`[data-testid="pending-${id}"]`);
        if (note) {
          const again = document.createElement("a");
          again.href = window.location.pathname;
          again.textContent = say("reload", "Open the page again");
          note.replaceChildren(document.createTextNode(`${say("status_sent", "Sent")} · `), again);
        }
      }
    }
  }

  let flushing = null;

  async function flush() {
    if (flushing) return flushing;
    let sent = 0;
    flushing = (async () => {
      for (const { key } of await store.all()) {
        const entry = await withStore("outbox", "readonly", (s) => s.get(key));  // as now
        if (!entry || entry.status !== "waiting") continue;
        if (!(await send(entry))) break;
        sent += 1;
      }
    })();
    try {
      await flushing;
    } finally {
      flushing = null;
      refreshCount();
      drawOutbox();
    }
    if (sent) showPending();
  }

  // ---- the outbox page and the count in the layout ----------------------------------------

  async function refreshCount() {
    const badge = document.getElementById("offline-count");
    if (!badge || !user) return;
    const waiting = (await store.all()).filter((e) => e.status === "waiting" || e.status === "conflict").length;
    badge.textContent = waiting ? String(waiting) : "";
    badge.hidden = !waiting;
  }

  function describe(entry) {
    const action = new URLSearchParams(entry.body).get("action");
    return `${entry.url.split("?")[0]}${action ? ` · ${say(`action_${action}`, action)}` : ""}`;
  }

  function fieldsOf(entry) {
    const out = {};
    for (const [name, value] of new URLSearchParams(entry.body)) {
      if (!HIDDEN_FIELDS.has(name)) out[name] = value;
    }
    return out;
  }

  function cell(tag, text) {
    const element = document.createElement(tag);
    element.textContent = text;
    return element;
  }

  function bothVersions(entry) {
    const table = document.createElement("table");
    table.dataset.testid = "conflict-versions";
    const head = document.createElement("tr");
    head.append(cell("th", say("field", "Field")), cell("th", say("mine", "Yours")),
      cell("th", say("server", "On the server")));
    table.append(head);
    const mine = fieldsOf(entry);
    const theirs = entry.server ? entry.server.fields : {};
    for (const name of new Set([...Object.keys(mine), ...Object.keys(theirs)])) {
      const row = document.createElement("tr");
      const a = name in mine ? mine[name] : "—";
      const b = name in theirs ? theirs[name] : "—";
      row.append(cell("td", name), cell("td", a), cell("td", b));
      if (name in mine && name in theirs && a !== b) row.className = "changed";
      table.append(row);
    }
    return table;
  }

  async function keepMine(entry) {
    const fields = new URLSearchParams(entry.body);
    if (entry.server) fields.set("seen_version", entry.server.version);
    entry.key = uuid();  // a new write: the old key's answer was the conflict
    entry.body = fields.toString();
    entry.status = "waiting";
    entry.reason = "";
    delete entry.server;
    const old = await store.all();
    await withStore("outbox", "readwrite", (s) => {
      for (const item of old) if (item.created === entry.created && item.url === entry.url) s.delete(item.key);
      return s.put(entry);
    });
    await flush();
  }

  async function keepServers(entry) {
    entry.status = "dropped";
    entry.reason = say("dropped", "Kept the server's version; yours was not sent.");
    await store.put(entry);
    drawOutbox();
    refreshCount();
  }

  function button(label, testid, action) {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = label;
    element.dataset.testid = testid;
    element.addEventListener("click", action);
    return element;
  }

  async function drawOutbox() {
    const list = document.getElementById("outbox");
    if (!list) return;
    const entries = await store.all();
    list.replaceChildren();
    const empty = document.getElementById("outbox-empty");
    if (empty) empty.hidden = entries.length > 0;
    for (const entry of entries.reverse()) {
      const item = document.createElement("li");
      item.className = `card outbox-${entry.status}`;
      item.dataset.testid = "outbox-item";
      item.dataset.status = entry.status;
      item.dataset.key = entry.key;
      const title = document.createElement("p");
      title.append(cell("b", describe(entry)), document.createTextNode(" · "),
        cell("span", new Date(entry.created).toLocaleString(document.documentElement.lang)));
      const status = cell("p", say(`status_${entry.status}`, entry.status));
      status.dataset.testid = "outbox-status";
      item.append(title, status);
      if (entry.reason) {
        const reason = cell("p", entry.reason);
        reason.className = "muted";
        reason.dataset.testid = "outbox-reason";
        item.append(reason);
      }
      if (entry.status === "conflict") {
        item.append(bothVersions(entry));
        item.append(button(say("keepMine", "Send mine"), "keep-mine", () => keepMine(entry)),
          document.createTextNode(" "),
          button(say("keepServer", "Keep the server's"), "keep-server", () => keepServers(entry)));
      }
      list.append(item);
    }
    list.dataset.drawn = String(Date.now());
  }

  // ---- start --------------------------------------------------------------------------

  window.ShequOffline = { flush: flush, send: send, entries: store.all, wipe: wipe };

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
  if (window.location.pathname === "/login") {
    // Signed out (or the sign-in ended): nothing of theirs stays on the device.  The
    // sign-in page is never kept, so it is drawn only when the server answered.
    wipe();
  } else if (user && new URLSearchParams(window.location.search).get("msg") === "offline.queued") {
    queuedNotice();  // drawn from the device: no signal now
    showPending();
    refreshCount();
  } else if (user) {
    drawOutbox();
    showPending();
    refreshCount();
    remember().then(flush).then(warm);
    window.addEventListener("online", () => flush());
    window.setInterval(() => flush(), 30000);
  }
})();
