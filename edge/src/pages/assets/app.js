// Enhances the server-rendered pages; every page works without it.
// - the header shows the cart's item count (from /api/cart, never from a
//   shared page);
// - "Add to cart" adds without a reload (POST /api/cart/items, keyed);
// - the cart page follows changes made elsewhere (another tab, another
//   device): it asks again with If-None-Match every few seconds;
// - a drop's waiting room follows the caller's place in the queue and,
//   once admitted, goes on to the drop's first product;
// - times a page gives in UTC are shown in the reader's own zone.

const count = document.getElementById("cart-count");

async function cart(etag) {
  const headers = { accept: "application/json" };
  if (etag) headers["if-none-match"] = etag;
  const response = await fetch("/api/cart", { headers, credentials: "same-origin" });
  if (response.status === 304) return { etag, view: null };
  if (!response.ok) return { etag: null, view: null };
  return { etag: response.headers.get("etag"), view: await response.json() };
}

function showCount(view) {
  if (!count || !view) return;
  // A checked-out or merged cart holds nothing to buy any more.
  const open = view.status?.state === "open" || view.status?.state === undefined;
  const items = open ? view.lines.reduce((sum, line) => sum + line.quantity, 0) : 0;
  count.textContent = items > 0 ? String(items) : "";
}

async function addWithoutReload(form) {
  const status = form.querySelector(".added");
  const sku = form.elements.sku.value;
  const quantity = Number(form.elements.quantity.value);
  const response = await fetch("/api/cart/items", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "idempotency-key": `"${crypto.randomUUID()}"` },
    body: JSON.stringify({ sku, quantity }),
  });
  if (response.ok) {
    showCount(await response.json());
    if (status) status.textContent = "Added to your cart.";
  } else {
    const problem = await response.json().catch(() => ({}));
    if (status) status.textContent = problem.detail ?? "That did not work; please try again.";
  }
}

for (const form of document.querySelectorAll("form.add")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    addWithoutReload(form).catch(() => form.submit());
  });
}

// A logged-in customer's header offers "Log out" (a form: logging out is
// a write) where a visitor's offers "Log in".
async function showSession() {
  const response = await fetch("/api/session", { headers: { accept: "application/json" } });
  if (!response.ok) return;
  const session = await response.json();
  const login = document.querySelector('header a[href="/login"]');
  if (!session.authenticated || !login) return;
  const logout = element("form", { method: "post", action: "/logout", class: "logout" },
    element("button", { type: "submit", class: "link" }, "Log out"));
  login.replaceWith(logout);
}
showSession().catch(() => {});

let known = null;
cart(null)
  .then(({ etag, view }) => {
    known = etag;
    showCount(view);
  })
  .catch(() => {});

// A price from minor units, in the reader's own notation.
function price(money) {
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency: money.currency });
  const places = format.resolvedOptions().maximumFractionDigits;
  return format.format(money.amount_minor / 10 ** places);
}

function element(name, attributes = {}, ...children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

// The cart's lines as the server renders them (views::cart), built with
// text nodes only: nothing from the cart is parsed as HTML.
function renderCart(box, view) {
  box.dataset.version = String(view.version);
  const open = view.status?.state === "open" || view.status?.state === undefined;
  if (!open || view.lines.length === 0) {
    box.replaceChildren(element("p", {}, "Your cart is empty."));
    return;
  }
  const head = element("tr", {}, ...["Product", "Quantity", "Price"].map((t) => element("th", { scope: "col" }, t)),
    element("th", { scope: "col" }, element("span", { class: "visually-hidden" }, "Actions")));
  const rows = view.lines.map((line) => {
    const remove = element("form", { method: "post", action: "/cart/remove" },
      element("input", { type: "hidden", name: "sku", value: line.sku }),
      element("button", { type: "submit", "aria-label": `Remove ${line.name}` }, "Remove"));
    return element("tr", {},
      element("td", {}, element("a", { href: `/p/${encodeURIComponent(line.sku)}` }, line.name),
        ...(line.held_until ? [element("br"), element("small", { class: "held" },
          `Held for you until ${new Date(line.held_until).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`)] : [])),
      element("td", {}, String(line.quantity)),
      element("td", {}, price(line.line_total)),
      element("td", {}, remove));
  });
  const table = element("table", {},
    element("caption", { class: "visually-hidden" }, "Items in your cart"),
    element("thead", {}, head),
    element("tbody", {}, ...rows));
  if (view.total) {
    table.append(element("tfoot", {}, element("tr", {},
      element("th", { scope: "row", colspan: "2" }, "Total"), element("td", {}, price(view.total)), element("td"))));
  }
  box.replaceChildren(table, element("a", { class: "button", href: "/checkout" }, "Check out"));
}

// On the cart page, a change made elsewhere (another tab, another device,
// a login's merge, a checkout, an expiry) shows at once, in place: the
// cart's live view (a WebSocket) sends each new version. Where a socket
// cannot be opened, the page asks with If-None-Match every few seconds.
const live = document.getElementById("cart");
if (live) {
  const show = (view) => {
    // Merged into the customer's cart at a login in another tab: this
    // page shows that cart once it loads again.
    const moved = view?.status?.state === "closed" && String(view.version) !== live.dataset.version;
    if (moved) return location.reload();
    showCount(view);
    if (view && String(view.version) !== live.dataset.version) renderCart(live, view);
  };
  let polling = null;
  const poll = () => {
    if (polling) return;
    polling = setInterval(async () => {
      const { etag, view } = await cart(known).catch(() => ({ etag: known, view: null }));
      if (view && etag !== known) {
        known = etag;
        show(view);
      }
    }, 3000);
  };
  if (live.dataset.live !== "true") {
    poll();
  } else try {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/cart/live`);
    socket.addEventListener("message", (event) => show(JSON.parse(event.data)));
    socket.addEventListener("close", poll);
    socket.addEventListener("error", poll);
  } catch {
    poll();
  }
}

// Times a page gives in UTC (<time data-local>), in the reader's own zone
// and language.
const local = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});
for (const time of document.querySelectorAll("time[data-local]")) {
  const at = new Date(time.dateTime);
  if (!Number.isNaN(at.getTime())) time.textContent = local.format(at);
}

// An estimated wait in words, as the server words it (pages::drop_room).
function waitWords(seconds) {
  const about = (n, one, unit) => (n === 1 ? `about ${one}` : `about ${n} ${unit}`);
  if (seconds <= 0) return "any moment now";
  if (seconds < 60) return "less than a minute";
  if (seconds <= 59 * 60) return about(Math.ceil(seconds / 60), "a minute", "minutes");
  if (seconds < 48 * 3600) return about(Math.floor((seconds + 1800) / 3600), "an hour", "hours");
  return about(Math.floor((seconds + 43200) / 86400), "a day", "days");
}

// The place as the server renders it, rewritten only when it changed (a
// live region announces every rewrite).
function showPlace(region, view) {
  const wait = `Estimated wait: ${waitWords(view.estimated_wait_seconds)}.`;
  const words = view.position == null
    ? [`Your place will be drawn when the drop opens. ${wait}`]
    : ["You are number ", element("strong", {}, String(view.position)), ` in the queue. ${wait}`];
  const text = words.map((w) => (typeof w === "string" ? w : w.textContent)).join("");
  if (region.textContent !== text) region.replaceChildren(...words);
}

// Seconds to wait from a Retry-After (the API sends seconds), else `fallback`.
function retryAfter(response, fallback) {
  const seconds = Number(response?.headers.get("retry-after"));
  return seconds > 0 ? Math.min(seconds, 60) : fallback;
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

// In a drop's waiting room, the place is asked for when the queue says:
// first after the page's own Retry-After (the page has just asked, and
// the queue refuses a second question within a second), then after each
// answer's. A refusal to answer now (429: another tab follows the same
// place; 5xx; no network) waits as told, else longer each time. Admitted,
// the customer goes on to the first product; anything else (expired,
// closed, the place gone) the page itself says best, so it loads again.
async function followQueue(room, region) {
  const url = `/api/drops/${encodeURIComponent(room.dataset.drop)}/queue`;
  let delay = Number(room.dataset.retry) || 1;
  let failures = 0;
  for (;;) {
    await sleep(delay);
    let response = null;
    let view = null;
    try {
      response = await fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) view = await response.json();
    } catch {
      view = null;
    }
    const unanswered = !response || response.status === 429 || response.status >= 500;
    if (unanswered || (response.ok && !view)) {
      failures += 1;
      delay = retryAfter(response, Math.min(2 ** failures, 30));
      continue;
    }
    // No place any more (404), or a ticket the shop cannot read (400).
    if (!view) return location.reload();
    failures = 0;
    if (view.state === "waiting") {
      showPlace(region, view);
      delay = retryAfter(response, 5);
      continue;
    }
    if (view.state === "admitted" && room.dataset.next) {
      region.textContent = "It is your turn: taking you to the drop…";
      return location.assign(room.dataset.next);
    }
    return location.reload();
  }
}

const room = document.getElementById("drop-room");
const place = document.getElementById("drop-place");
if (room?.dataset.state === "waiting" && place) followQueue(room, place);
