// Enhances the server-rendered pages; every page works without it.
// - the header shows the cart's item count (from /api/cart, never from a
//   shared page);
// - "Add to cart" adds without a reload (POST /api/cart/items, keyed);
// - the cart page follows changes made elsewhere (another tab, another
//   device): it asks again with If-None-Match every few seconds.

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
  const items = view.lines.reduce((sum, line) => sum + line.quantity, 0);
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

let known = null;
cart(null)
  .then(({ etag, view }) => {
    known = etag;
    showCount(view);
  })
  .catch(() => {});

// On the cart page, a change made elsewhere reloads the page's lines.
const live = document.getElementById("cart");
if (live) {
  setInterval(async () => {
    const { etag, view } = await cart(known).catch(() => ({ etag: known, view: null }));
    if (view && etag !== known) {
      known = etag;
      showCount(view);
      location.reload();
    }
  }, 3000);
}
