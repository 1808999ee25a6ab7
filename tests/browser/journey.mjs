// The storefront's pages in real Chromium, as customers use them.
//
//   node tests/browser/journey.mjs <edge-base-url> <artifacts-dir>
//
// Drives Debian's Chromium (`$CHROMIUM`, else /usr/bin/chromium) through
// playwright-core; no browser is downloaded. Journeys, each in its own
// browser context so no cookie leaks from one to the next:
//
//   js    JavaScript on: browse a category, search, add to cart as a guest,
//         log in (the guest cart is merged), check out, find the order.
//   nojs  the same with JavaScript off: plain forms that post and redirect (303).
//   axe   axe-core on every kind of page; a `serious` or `critical` violation fails.
//   live  a cart changed through the API shows up,
//         within 2 s and without a reload, in another tab on /cart.
//   drop  a drop opening in a few seconds: join its queue in the waiting
//         room, see the place, be moved on to the product when admitted
//         (no reload by hand), add it (a held line), axe on the room.
//         Needs `EDGE_ADMIN_TOKEN` and `ORIGIN_US` (the `us` origin's URL).
//
// Prints one PASS/FAIL line per step, then `browser: N passed, N failed,
// N skipped`; exits 1 on any failure. Every step leaves a full-page
// screenshot at phone and desktop widths in the artifacts directory:
// `<journey>-<nn>-<step>-<width>.png`.

import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";

import { AxeBuilder } from "@axe-core/playwright";
import { chromium } from "playwright-core";

// One navigation, click or assertion.
const ACTION_MS = 15_000;
// One step (a few actions), screenshots excluded.
const STEP_MS = 30_000;
// The whole run; the caller (cargo xtask) kills it at 6 minutes.
const RUN_MS = 230_000;
// How soon another tab must show a cart change (the live journey).
const LIVE_MS = 2_000;

const PHONE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 800 };

const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Demo customers of the reference identity service, one per journey.
const ALICE = { email: "alice@example.com", password: "alice-demo-password" };
const BRUNO = { email: "bruno@example.eu", password: "bruno-demo-password" };
const CAROL = { email: "carol@example.com", password: "carol-demo-password" };

const [baseArg, artifactsArg] = process.argv.slice(2);
if (!baseArg || !artifactsArg) {
  console.error("usage: node tests/browser/journey.mjs <edge-base-url> <artifacts-dir>");
  process.exit(2);
}
const BASE = baseArg.replace(/\/+$/, "");
const ARTIFACTS = resolve(artifactsArg);
const EXECUTABLE = process.env.CHROMIUM ?? "/usr/bin/chromium";

const tally = { passed: 0, failed: 0, skipped: 0 };
// Set when the run is out of time: what still fails then is only its echo.
let stopping = false;
// The step under way, named when the run is out of time.
let running = "starting Chromium";

// A failed step: the journey stops there (later steps need its state).
class Stop extends Error {}

function fail(what, error) {
  if (stopping) {
    return;
  }
  tally.failed += 1;
  const lines = String(error?.message ?? error ?? "")
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((l) => l.trim());
  console.log(`FAIL ${what}${lines.length ? `: ${lines[0]}` : ""}`);
  for (const line of lines.slice(1, 12)) {
    console.log(`       ${line.length > 300 ? `${line.slice(0, 300)}…` : line}`);
  }
}

function skip(what, why) {
  tally.skipped += 1;
  console.log(`SKIP ${what}: ${why}`);
}

function pass(what) {
  if (stopping) {
    return;
  }
  tally.passed += 1;
  console.log(`PASS ${what}`);
}

// `promise`, or an error once `ms` have passed.
function within(ms, what, promise) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

const slug = (text) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");

const squash = (text) => (text ?? "").replace(/\s+/g, " ").trim();

const pathOf = (page) => new URL(page.url()).pathname;

// A journey: its context, the page its steps act on, and its step count.
class Journey {
  constructor(name, context) {
    this.name = name;
    this.context = context;
    this.page = null;
    this.n = 0;
    this.problems = new Map(); // what → how often
    context.on("page", (page) => this.watch(page));
  }

  // Uncaught script errors and assets that did not load are failures of
  // whichever page they happen on; reported when the journey ends.
  problem(what) {
    this.problems.set(what, (this.problems.get(what) ?? 0) + 1);
  }

  watch(page) {
    page.on("pageerror", (error) => this.problem(`script error on ${page.url()}: ${error.message}`));
    const asset = (request) =>
      ["stylesheet", "script", "image", "font"].includes(request.resourceType()) &&
      !request.url().endsWith("/favicon.ico");
    page.on("requestfailed", (request) => {
      if (asset(request)) {
        this.problem(`${request.resourceType()} ${request.url()} failed: ${request.failure()?.errorText}`);
      }
    });
    page.on("response", (response) => {
      if (asset(response.request()) && response.status() >= 400) {
        this.problem(`${response.request().resourceType()} ${response.url()} answered ${response.status()}`);
      }
    });
  }

  async newPage() {
    const page = await this.context.newPage();
    this.page = page;
    return page;
  }

  // Runs one step, then screenshots its page at both widths. A failure
  // ends the journey.
  async step(name, body) {
    this.n += 1;
    const nn = String(this.n).padStart(2, "0");
    const label = `${this.name}-${nn}-${slug(name)}`;
    const what = `${this.name} ${nn} ${name}`;
    running = what;
    let detail;
    let error;
    try {
      detail = await within(STEP_MS, what, Promise.resolve().then(body));
    } catch (e) {
      error = e;
    }
    try {
      await this.screenshots(label);
    } catch (e) {
      error ??= new Error(`screenshot: ${e.message}`);
    }
    if (error) {
      fail(what, error);
      throw new Stop();
    }
    pass(detail ? `${what}: ${detail}` : what);
  }

  async screenshots(label) {
    const page = this.page;
    if (!page || page.isClosed()) {
      return;
    }
    const shoot = (width) =>
      page.screenshot({ path: join(ARTIFACTS, `${label}-${width}.png`), fullPage: true, timeout: ACTION_MS });
    try {
      await shoot(DESKTOP.width);
      await page.setViewportSize(PHONE);
      await shoot(PHONE.width);
    } finally {
      await page.setViewportSize(DESKTOP).catch(() => {});
    }
  }
}

// Runs `body` in a fresh context; the context is always closed.
async function journey(browser, name, options, body) {
  const context = await browser.newContext({ baseURL: BASE, viewport: DESKTOP, locale: "en-US", ...options });
  context.setDefaultTimeout(ACTION_MS);
  context.setDefaultNavigationTimeout(ACTION_MS);
  const j = new Journey(name, context);
  try {
    await body(j);
  } catch (e) {
    if (!(e instanceof Stop)) {
      fail(`${name}`, e);
    }
  } finally {
    if (j.problems.size) {
      const lines = [...j.problems].map(([what, times]) => (times > 1 ? `${what} (${times} times)` : what));
      fail(`${name}: no script errors or broken assets`, `${lines.length} seen\n${lines.join("\n")}`);
    }
    await within(ACTION_MS, `closing the ${name} context`, context.close()).catch(() => {});
  }
}

// ---------------------------------------------------------------- the page contract

const main = (page) => page.getByRole("main");
const h1 = (page) => main(page).getByRole("heading", { level: 1 });
const productItems = (page) => main(page).locator("ul.products > li");

const categoryLinks = (page) => page.getByRole("navigation", { name: "Categories" }).getByRole("link");
const searchInput = (page) => page.getByRole("search").locator('input[name="q"]');

// What every page has — a header with a link home, the category nav, the
// search form and a "Cart" link; one h1, in <main> — and that h1's text.
async function heading(page) {
  const where = pathOf(page);
  const banner = page.getByRole("banner");
  check((await banner.locator('a[href="/"]').count()) >= 1, `${where}: the header has no link to /`);
  check((await categoryLinks(page).count()) >= 1, `${where}: no links in <nav aria-label="Categories">`);
  const search = page.getByRole("search");
  check((await search.count()) === 1, `${where}: want one <form role="search">`);
  check(
    (await search.getByLabel("Search", { exact: true }).and(searchInput(page)).count()) === 1,
    `${where}: the search form has no input name="q" labelled "Search"`,
  );
  check(
    (await search.getByRole("button", { name: "Search", exact: true }).count()) === 1,
    `${where}: the search form has no "Search" button`,
  );
  const cart = await banner.getByRole("link", { name: "Cart" }).first().getAttribute("href");
  check(cart === "/cart", `${where}: the header's "Cart" link goes to ${cart}, not /cart`);
  const all = await page.locator("h1").count();
  check(all === 1, `${where}: ${all} h1 elements (want exactly one)`);
  return squash(await h1(page).innerText());
}

// The listed products: [{name, href}], at least one.
async function listedProducts(page) {
  await productItems(page).first().waitFor();
  const items = productItems(page);
  const count = await items.count();
  const products = [];
  for (let i = 0; i < Math.min(count, 5); i++) {
    const item = items.nth(i);
    const link = item.locator('a[href^="/p/"]').first();
    products.push({ name: squash(await link.innerText()), href: await link.getAttribute("href") });
    check(/\d/.test(await item.innerText()), `the listed product "${products[i].name}" shows no price`);
  }
  check(products.every((p) => p.name && p.href), "a listed product has no name or no /p/ link");
  return { count, products };
}

// The first word of a product name, as a search term.
function searchTerm(name) {
  const word = name.split(/\s+/).find((w) => /^[A-Za-z]{3,}/.test(w)) ?? name;
  return word.replace(/[^A-Za-z]/g, "").toLowerCase();
}

// Clicks `target`, which submits a form by POST, and waits to land on a
// path matching `landing`. With `strict`, the POST must answer 303 (a page
// without JavaScript depends on it). Returns "POST <path> <status>".
async function submit(page, target, landing, strict) {
  const post = page
    .waitForResponse((r) => r.request().method() === "POST" && r.request().isNavigationRequest())
    .catch(() => null);
  await target.click();
  await page.waitForURL((url) => landing.test(url.pathname));
  const response = await within(ACTION_MS, "the form's POST", post);
  const what = response ? `POST ${new URL(response.url()).pathname} ${response.status()}` : "POST (not seen)";
  if (strict) {
    check(response?.status() === 303, `${what}: want a 303 See Other`);
  }
  return what;
}

async function goto(page, path, expected = 200) {
  const response = await page.goto(path);
  check(response, `no response for ${path}`);
  check(response.status() === expected, `GET ${path} answered ${response.status()} (want ${expected})`);
  return response;
}

// The cart row that names `name`, and the quantity it shows.
async function cartLine(page, name) {
  const row = main(page).getByRole("row").filter({ hasText: name }).first();
  await row.waitFor();
  const inputs = row.locator("input");
  const values = [];
  for (let i = 0; i < (await inputs.count()); i++) {
    const type = (await inputs.nth(i).getAttribute("type")) ?? "text";
    if (!["hidden", "submit", "button"].includes(type)) {
      values.push(await inputs.nth(i).inputValue());
    }
  }
  return { row, text: squash(await row.innerText()), inputs: values };
}

function hasQuantity(line, quantity) {
  const q = String(quantity);
  return line.inputs.includes(q) || new RegExp(`(^|\\D)${q}(\\D|$)`).test(line.text);
}

async function logIn(page, customer) {
  await main(page).getByLabel("Email", { exact: true }).fill(customer.email);
  await main(page).getByLabel("Password", { exact: true }).fill(customer.password);
}

// ---------------------------------------------------------------- journeys

// The shopping journey, JavaScript on or off.
async function shop(j, customer, { js }) {
  const page = await j.newPage();
  const state = {};

  await j.step("home", async () => {
    await goto(page, "/");
    await heading(page);
    check((await page.getByRole("link", { name: "Log in" }).count()) >= 1, 'a guest sees no "Log in" link');
    return `${await categoryLinks(page).count()} categories`;
  });

  await j.step("category", async () => {
    const link = categoryLinks(page).first();
    const label = squash(await link.innerText());
    const href = await link.getAttribute("href");
    check(/^\/c\/[^/]+$/.test(href ?? ""), `the first category link goes to ${href} (want /c/{slug})`);
    await link.click();
    await page.waitForURL((url) => url.pathname === href);
    const title = await heading(page);
    check(title && (label.includes(title) || title.includes(label)), `h1 "${title}" is not the category "${label}"`);
    const { count, products } = await listedProducts(page);
    state.category = href;
    state.term = searchTerm(products[0].name);
    return `${title}: ${count} products`;
  });

  await j.step("search", async () => {
    await searchInput(page).fill(state.term);
    await page.getByRole("search").getByRole("button", { name: "Search", exact: true }).click();
    await page.waitForURL((url) => url.pathname === "/search" && url.searchParams.get("q") === state.term);
    const title = await heading(page);
    check(title.startsWith("Search"), `h1 "${title}" does not start with "Search"`);
    const { count, products } = await listedProducts(page);
    state.product = products[0];
    return `"${state.term}": ${count} results`;
  });

  await j.step("product", async () => {
    await main(page).locator(`ul.products a[href="${state.product.href}"]`).first().click();
    await page.waitForURL((url) => url.pathname === state.product.href);
    const title = await heading(page);
    check(title === state.product.name, `h1 "${title}" is not the product "${state.product.name}"`);
    const price = squash(await main(page).locator(".price").first().innerText());
    check(/\d/.test(price), `the price reads "${price}"`);
    const form = main(page).locator('form[method="post" i][action="/cart"]');
    check((await form.count()) === 1, 'no <form method="post" action="/cart">');
    const sku = await form.locator('input[type="hidden"][name="sku"]').getAttribute("value");
    check(sku && state.product.href === `/p/${sku}`, `the form's sku ${sku} is not this product's`);
    await main(page).getByLabel("Quantity", { exact: true }).waitFor();
    Object.assign(state, { name: title, price, sku });
    return `${sku} "${title}" at ${price}`;
  });

  await j.step("add to cart", async () => {
    await main(page).getByLabel("Quantity", { exact: true }).fill("1");
    const button = main(page).getByRole("button", { name: "Add to cart" });
    if (!js) {
      return `${await submit(page, button, /^\/cart$/, true)} → /cart`;
    }
    // With script the page stays: the line is added through the API, the
    // page says so and the header's count follows.
    await button.click();
    await main(page).getByRole("status").filter({ hasText: "Added to your cart" }).waitFor();
    await page.locator("#cart-count").filter({ hasText: /^[1-9]/ }).waitFor();
    check(pathOf(page) === state.product.href, "the page stayed on the product");
    return "added without a reload; the header counts it";
  });

  await j.step("cart", async () => {
    if (pathOf(page) !== "/cart") {
      await goto(page, "/cart");
    }
    check((await heading(page)) === "Your cart", 'h1 is not "Your cart"');
    await main(page).getByRole("table").first().waitFor();
    const line = await cartLine(page, state.name);
    check(hasQuantity(line, 1), `the line shows no quantity 1: "${line.text}"`);
    return `"${line.text}"`;
  });

  await j.step("log in", async () => {
    await page.getByRole("link", { name: "Log in" }).first().click();
    await page.waitForURL((url) => url.pathname === "/login");
    await heading(page);
    await logIn(page, customer);
    const button = main(page).getByRole("button", { name: "Log in" });
    const post = await submit(page, button, /^\/cart$/, !js);
    await page.getByRole("link", { name: "Orders" }).first().waitFor();
    return `${customer.email}: ${post} → /cart`;
  });

  await j.step("cart merged", async () => {
    check((await heading(page)) === "Your cart", 'h1 is not "Your cart"');
    const line = await cartLine(page, state.name);
    check(hasQuantity(line, 1), `the merged line shows no quantity 1: "${line.text}"`);
    return `"${line.text}"`;
  });

  await j.step("checkout", async () => {
    const go = main(page)
      .getByRole("link", { name: "Check out" })
      .or(main(page).getByRole("button", { name: "Check out" }))
      .first();
    await go.click();
    await page.waitForURL((url) => url.pathname === "/checkout");
    check((await heading(page)) === "Checkout", 'h1 is not "Checkout"');
    const text = squash(await main(page).innerText());
    check(text.includes(state.name), `the checkout page does not list "${state.name}"`);
    check(/total/i.test(text), "the checkout page shows no total");
    await main(page).getByRole("button", { name: "Place order" }).waitFor();
  });

  await j.step("place order", async () => {
    const button = main(page).getByRole("button", { name: "Place order" });
    const post = await submit(page, button, /^\/orders\/[^/]+$/, !js);
    const title = await heading(page);
    check(title.includes("Thank you"), `h1 "${title}" does not say "Thank you"`);
    const fromUrl = decodeURIComponent(pathOf(page).slice("/orders/".length));
    const shown = squash(await main(page).locator(".order-id").first().innerText());
    check(shown, "no order id in .order-id");
    check(shown.includes(fromUrl) || fromUrl.includes(shown), `.order-id "${shown}" is not the order ${fromUrl}`);
    state.orderId = shown;
    return `${post} → order ${shown}`;
  });

  await j.step("orders", async () => {
    await page.getByRole("link", { name: "Orders" }).first().click();
    await page.waitForURL((url) => url.pathname === "/orders");
    check((await heading(page)) === "Your orders", 'h1 is not "Your orders"');
    const ids = (await main(page).locator(".order-id").allInnerTexts()).map(squash);
    check(ids.includes(state.orderId), `order ${state.orderId} is not among [${ids.join(", ")}]`);
    return `${ids.length} order(s), ${state.orderId} among them`;
  });

  await j.step("cart empty after order", async () => {
    await page.getByRole("banner").getByRole("link", { name: "Cart" }).click();
    await page.waitForURL((url) => url.pathname === "/cart");
    check(
      (await main(page).getByText("Your cart is empty").count()) >= 1,
      'the cart does not say "Your cart is empty" after the order',
    );
  });
}

// axe-core on every kind of page.
async function accessibility(j, customer) {
  const page = await j.newPage();
  const state = {};

  const audit = async (path, { status = 200 } = {}) => {
    if (path !== null) {
      const response = await goto(page, path, status);
      const type = response.headers()["content-type"] ?? "";
      check(type.startsWith("text/html"), `GET ${path} is ${type || "untyped"}, not HTML`);
    }
    await heading(page);
    const results = await new AxeBuilder({ page }).analyze();
    const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    if (bad.length) {
      const lines = bad.map(
        (v) =>
          `${v.impact} ${v.id} (${v.help}): ${v.nodes
            .slice(0, 5)
            .map((n) => n.target.join(" "))
            .join(" | ")}${v.nodes.length > 5 ? ` … ${v.nodes.length} in all` : ""}`,
      );
      throw new Error(`${bad.length} serious/critical axe violation(s) on ${pathOf(page)}\n${lines.join("\n")}`);
    }
    const minor = results.violations.map((v) => `${v.id}/${v.impact}`);
    return `${results.passes.length} rules pass${minor.length ? `; minor: ${minor.join(", ")}` : ""}`;
  };

  await j.step("home", () => audit("/"));

  await j.step("category", async () => {
    const href = await categoryLinks(page).first().getAttribute("href");
    const result = await audit(href);
    const { products } = await listedProducts(page);
    state.product = products[0].href;
    state.term = searchTerm(products[0].name);
    return `${href}: ${result}`;
  });

  await j.step("product", async () => `${state.product}: ${await audit(state.product)}`);

  await j.step("search", async () => {
    const path = `/search?q=${encodeURIComponent(state.term)}`;
    return `${path}: ${await audit(path)}`;
  });

  await j.step("cart", async () => {
    // A cart with a line, so its table is audited too.
    await goto(page, state.product);
    await main(page).getByRole("button", { name: "Add to cart" }).click();
    await main(page).getByRole("status").filter({ hasText: "Added to your cart" }).waitFor();
    return audit("/cart");
  });

  await j.step("login", () => audit("/login"));

  await j.step("orders", async () => {
    await logIn(page, customer);
    await submit(page, main(page).getByRole("button", { name: "Log in" }), /^\/(cart)?$/, false);
    return `${customer.email}: ${await audit("/orders")}`;
  });

  await j.step("checkout", () => audit("/checkout"));

  await j.step("not found", async () => {
    const result = await audit("/no-such-page", { status: 404 });
    const title = await heading(page);
    check(title === "Page not found", `h1 "${title}" is not "Page not found"`);
    return result;
  });
}

// A cart change made through the API appears in another tab without a reload.
async function live(j, customer) {
  const one = await j.newPage();
  const state = {};

  await j.step("log in", async () => {
    await goto(one, "/login");
    await logIn(one, customer);
    await submit(one, main(one).getByRole("button", { name: "Log in" }), /^\/(cart)?$/, false);
    await goto(one, "/");
    const category = await categoryLinks(one).last().getAttribute("href");
    await goto(one, category);
    const { products } = await listedProducts(one);
    const pick = products[products.length - 1];
    Object.assign(state, { sku: pick.href.slice("/p/".length), name: pick.name });
    return `${customer.email}; will add ${state.sku} "${state.name}"`;
  });

  let two;
  await j.step("both tabs on cart", async () => {
    two = await j.context.newPage();
    await goto(one, "/cart");
    await goto(two, "/cart");
    await heading(two);
    state.before = await main(two).getByRole("row").filter({ hasText: state.name }).count();
    // A reload would lose this, and count as a navigation.
    await two.evaluate(() => {
      window.__browserTestMark = true;
    });
    state.navigations = 0;
    two.on("framenavigated", (frame) => {
      if (frame === two.mainFrame()) {
        state.navigations += 1;
      }
    });
    j.page = two;
    return state.before ? `"${state.name}" already in the cart (${state.before} row)` : undefined;
  });

  await j.step("add through the API, seen in the other tab", async () => {
    const response = await one.evaluate(
      async ({ sku, key }) => {
        const r = await fetch("/api/cart/items", {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": key },
          body: JSON.stringify({ sku, quantity: 1 }),
        });
        return { status: r.status, body: await r.text() };
      },
      { sku: state.sku, key: randomUUID() },
    );
    check(
      response.status >= 200 && response.status < 300,
      `POST /api/cart/items answered ${response.status}: ${response.body}`,
    );
    const started = Date.now();
    const row = main(two).getByRole("row").filter({ hasText: state.name });
    try {
      if (state.before) {
        // Already a line: wait for it to change (its quantity) instead.
        const was = await row.first().innerText();
        await two.waitForFunction(
          ([name, text]) =>
            [...document.querySelectorAll("main tr")].some(
              (tr) => tr.innerText.includes(name) && tr.innerText !== text,
            ),
          [state.name, was],
          { timeout: LIVE_MS },
        );
      } else {
        await row.first().waitFor({ timeout: LIVE_MS });
      }
    } catch (e) {
      const late = `the other tab did not show "${state.name}" within ${LIVE_MS / 1000} s of the API's answer`;
      throw new Error(`${late}\n${e.message}`);
    }
    const waited = Date.now() - started;
    check(await two.evaluate(() => window.__browserTestMark === true), "the other tab reloaded");
    check(state.navigations === 0, `the other tab navigated ${state.navigations} time(s)`);
    return `shown after ${waited} ms, no reload`;
  });
}

// A drop opening in a few seconds, from the waiting room to a held line.
async function dropRoom(j) {
  const token = process.env.EDGE_ADMIN_TOKEN;
  const origin = process.env.ORIGIN_US;
  if (!token || !origin) {
    skip("drop", "EDGE_ADMIN_TOKEN and ORIGIN_US are not set");
    return;
  }
  const page = await j.newPage();
  const id = `browser-${Date.now().toString(36)}`;
  const sku = "GAR-0005";
  const opensIn = 6_000;

  await j.step("configure", async () => {
    const stock = await fetch(`${origin}/catalog/products/${sku}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ stock: 5 }),
    });
    check(stock.ok, `setting the stock answered ${stock.status}`);
    const at = (ms) => new Date(Date.now() + ms).toISOString().replace(/\.\d+Z$/, "Z");
    const r = await fetch(`${BASE}/admin/drops/${id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        skus: [sku],
        opens_at: at(opensIn),
        closes_at: at(3_600_000),
        admit_per_minute: 600,
        order: "fifo",
        per_customer_limit: 1,
        hold_seconds: 600,
      }),
    });
    check(r.status === 201, `PUT /admin/drops/${id} answered ${r.status}: ${await r.text()}`);
    await goto(page, `/drops/${id}`);
    const title = await heading(page);
    await main(page).getByRole("button", { name: "Join the queue" }).waitFor();
    return `${id} opens in ${opensIn / 1000} s: "${title}"`;
  });

  await j.step("join, waiting", async () => {
    await submit(page, main(page).getByRole("button", { name: "Join the queue" }), new RegExp(`^/drops/${id}$`), false);
    const place = main(page).locator("#drop-place");
    await place.filter({ hasText: /You are number 1 in the queue|Checking your place/ }).waitFor();
    return squash(await place.innerText());
  });

  await j.step("axe on the waiting room", async () => {
    const results = await new AxeBuilder({ page }).analyze();
    const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    check(!bad.length, `axe: ${bad.map((v) => `${v.impact} ${v.id}`).join(", ")}`);
    return `${results.passes.length} rules pass`;
  });

  await j.step("admitted, moved on", async () => {
    const started = Date.now();
    await page.waitForURL(`**/p/${sku}`, { timeout: opensIn + 15_000 });
    await heading(page);
    return `on /p/${sku} ${((Date.now() - started) / 1000).toFixed(1)} s later, by the page itself`;
  });

  await j.step("add, held", async () => {
    await main(page).getByRole("button", { name: "Add to cart" }).click();
    await main(page).getByRole("status").filter({ hasText: "Added to your cart" }).waitFor();
    const cart = await page.evaluate(async () => (await fetch("/api/cart")).json());
    const line = cart.lines.find((l) => l.held_until);
    check(line, `no held line in ${JSON.stringify(cart)}`);
    await goto(page, "/cart");
    return `held until ${line.held_until}`;
  });
}

// ---------------------------------------------------------------- main

let browser;
const deadline = setTimeout(async () => {
  fail("the whole run", `not done within ${RUN_MS / 1000} s (at: ${running})`);
  stopping = true;
  await within(5_000, "closing Chromium", browser?.close() ?? Promise.resolve()).catch(() => {});
  console.log(`browser: ${tally.passed} passed, ${tally.failed} failed, ${tally.skipped} skipped`);
  process.exit(1);
}, RUN_MS);

try {
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: EXECUTABLE, args: CHROMIUM_ARGS, timeout: 30_000 });
  console.log(`     Chromium ${browser.version()} (${EXECUTABLE}) against ${BASE}; screenshots in ${ARTIFACTS}`);

  await journey(browser, "js", {}, (j) => shop(j, ALICE, { js: true }));
  await journey(browser, "nojs", { javaScriptEnabled: false }, (j) => shop(j, BRUNO, { js: false }));
  await journey(browser, "axe", {}, (j) => accessibility(j, CAROL));
  await journey(browser, "live", {}, (j) => live(j, ALICE));
  await journey(browser, "drop", {}, (j) => dropRoom(j));
} catch (e) {
  fail(browser ? "the run" : `launching Chromium (${EXECUTABLE})`, e);
} finally {
  clearTimeout(deadline);
  if (browser) {
    await within(ACTION_MS, "closing Chromium", browser.close()).catch((e) => fail("closing Chromium", e));
  }
}

console.log(`browser: ${tally.passed} passed, ${tally.failed} failed, ${tally.skipped} skipped`);
process.exit(tally.failed ? 1 : 0);
