// End-to-end tests of the storefront in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core) against a real stack: SHOP_URL is the nginx that serves the
// built SPA and the API. tests/test_storefront.py starts the stack and runs this file.
//
//   SHOP_URL=http://127.0.0.1:8080 STAFF_EMAIL=... STAFF_PASSWORD=... node e2e/run.mjs
//
// Prints one line per scenario ("ok - ..." / "not ok - ..."), writes screenshots to
// SCREENSHOT_DIR (docs/screenshots/ for the README) and exits 1 if any scenario failed.

import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axe = require("axe-core");

const BASE = (process.env.SHOP_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const STAFF = { email: process.env.STAFF_EMAIL, password: process.env.STAFF_PASSWORD };
const SHOTS = process.env.SCREENSHOT_DIR ?? "e2e/out";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ONLY = process.env.E2E_ONLY ?? "";
const TIMEOUT = 20_000;
const RUN = Math.random().toString(36).slice(2, 7).toUpperCase();
const PASSWORD = "e2e-secret-pass";

mkdirSync(SHOTS, { recursive: true });

// ---- the API, for seeding and for checks the browser cannot make -------------------

async function call(method, path, { token, body, headers = {} } = {}) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: {
      ...(body ? { "Content-Type": "application/json" } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function must(method, path, options) {
  const answer = await call(method, path, options);
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

async function loginToken(email, password) {
  return (await must("POST", "/api/auth/login/", { body: { email, password } })).access;
}

async function newShopper(tag) {
  const email = `${tag}-${RUN.toLowerCase()}-${Date.now()}@example.com`;
  const username = `${tag}${RUN}${Date.now() % 100000}`;
  await must("POST", "/api/auth/register/", { body: { email, username, password: PASSWORD } });
  return { email, username, password: PASSWORD };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function seed() {
  const token = await loginToken(STAFF.email, STAFF.password);
  const cat = (name, parent_id = null) => must("POST", "/api/categories/", { token, body: { name, parent_id } });
  const furniture = await cat(`Furniture ${RUN}`);
  const chairs = await cat(`Chairs ${RUN}`, furniture.id);
  const lighting = await cat(`Lighting ${RUN}`);
  const product = (name, price, stock, category_id) =>
    must("POST", "/api/products/", {
      token,
      body: { name: `${name} ${RUN}`, description: `A ${name.toLowerCase()} for the e2e run.`, price, stock_quantity: stock, category_id },
    });
  const products = {
    chair: await product("Oak chair", "49.99", 50, chairs.id),
    table: await product("Walnut table", "120.50", 50, furniture.id),
    lamp: await product("Brass lamp", "19.95", 50, lighting.id),
    vase: await product("Glass vase", "15.00", 1, lighting.id),
    stool: await product("Pine stool", "30.00", 50, furniture.id),
  };
  // Orders learns products from catalog's events: wait until each one can go in a cart.
  const cart = await must("POST", "/api/shopping-carts/", { token });
  for (const p of Object.values(products)) {
    for (let i = 0; ; i++) {
      const added = await call("POST", "/api/cart-items/", { token, body: { cart_id: cart.id, product_id: p.id, quantity: 1 } });
      if (added.status === 201 || added.status === 200) {
        await must("DELETE", `/api/cart-items/${added.body.id}/`, { token });
        break;
      }
      if (i > 200) throw new Error(`product ${p.id} never reached orders: ${JSON.stringify(added.body)}`);
      await sleep(100);
    }
  }
  return { categories: { furniture, chairs, lighting }, products };
}

// ---- browser helpers ------------------------------------------------------------------

let browser;
const cspViolations = [];

async function newPage({ width = 1280, height = 860 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on("console", (msg) => {
    // Any error but an HTTP status the scenario provoked (a 401 probe, a 422 form).
    const bad = /Content Security Policy/i.test(msg.text()) || (msg.type() === "error" && !/Failed to load resource/.test(msg.text()));
    if (bad) cspViolations.push(`${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (error) => cspViolations.push(`${page.url()}: page error ${error.message}`));
  return page;
}

async function loginUi(page, who) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: false });
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function text(locator) {
  return (await locator.innerText()).trim();
}

/** axe-core's serious and critical violations on the page as it is now. */
async function axeSerious(page, label) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${label}: ${v.id} (${v.nodes.length}) ${v.help}`);
}

async function addFromProductPage(page, productId, quantity = 1) {
  await page.goto(`${BASE}/products/${productId}`);
  const input = page.getByLabel("Quantity");
  await input.fill(String(quantity));
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByText(/Added \d+ to your cart/).waitFor();
}

async function checkoutToPaymentForm(page) {
  await page.goto(`${BASE}/cart`);
  await page.getByRole("button", { name: "Check out" }).click();
  await page.waitForURL(/\/checkout\/\d+$/);
}

async function payByCard(page, number) {
  await page.getByLabel("Card number").fill(number);
  await page.getByLabel("CVC").fill("123");
  await page.getByRole("button", { name: "Pay" }).click();
}

// ---- scenarios ---------------------------------------------------------------------------

const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });

scenario("a new customer registers, searches, filters, buys two products and sees the paid order's timeline", async ({ products, categories }) => {
  const page = await newPage();
  const username = `ann${RUN}`.toLowerCase();
  await page.goto(`${BASE}/register`);
  await page.getByLabel("Email").fill(`ann-${RUN.toLowerCase()}@example.com`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("First name").fill("Ann");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByRole("link", { name: username }).waitFor();
  await page.getByRole("heading", { name: "Bestsellers" }).waitFor();
  await page.getByRole("link", { name: products.stool.name }).first().waitFor();
  await shot(page, "home");

  // Search.
  await page.getByRole("link", { name: "Catalog", exact: true }).click();
  await page.getByLabel("Search").fill(`chair ${RUN}`);
  await page.getByRole("button", { name: "Apply" }).click();
  const grid = page.getByRole("list", { name: "Products" });
  await grid.getByRole("link", { name: products.chair.name }).waitFor();
  assert((await grid.getByRole("listitem").count()) === 1, "the search finds the one chair");

  // Filter by category (with descendants): Furniture holds the chair (in Chairs) and the table.
  await page.getByLabel("Search").fill(RUN);
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByRole("link", { name: categories.furniture.name }).click();
  await grid.getByRole("link", { name: products.table.name }).waitFor();
  await grid.getByRole("link", { name: products.chair.name }).waitFor();
  assert(!(await grid.getByRole("link", { name: products.lamp.name }).count()), "no lamp among furniture");
  await page.getByRole("link", { name: categories.chairs.name }).click();
  await page.waitForURL(new RegExp(`category=${categories.chairs.id}`));
  await grid.getByRole("link", { name: products.chair.name }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[aria-label="Products"] li').length === 1);

  // Two products in the cart.
  await grid.getByRole("link", { name: products.chair.name }).click();
  await page.getByRole("heading", { name: products.chair.name }).waitFor();
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByText("Added 1 to your cart.").waitFor();
  await shot(page, "product");
  await addFromProductPage(page, products.table.id, 1);

  // Change a quantity: 3 x 49.99 + 120.50 = 270.47, exactly.
  await page.goto(`${BASE}/cart`);
  const lines = page.getByTestId("cart-line");
  await lines.nth(1).waitFor();
  assert((await lines.count()) === 2, "two lines in the cart");
  const quantity = page.getByLabel(`Quantity of ${products.chair.name}`);
  await quantity.fill("3");
  await quantity.press("Enter");
  await page.getByTestId("cart-total").getByText("€270.47").waitFor();
  await page.getByRole("button", { name: "Check out" }).waitFor({ state: "visible" });
  await page.waitForFunction(() => !document.querySelector("button.primary")?.hasAttribute("disabled"));
  await shot(page, "cart");

  // Check out, wait for the reservation (long poll), pay by test card.
  await page.getByRole("button", { name: "Check out" }).click();
  await page.waitForURL(/\/checkout\/\d+$/);
  const orderId = Number(page.url().split("/").pop());
  await page.getByLabel("Card number").waitFor();
  assert((await text(page.locator("main"))).includes("€270.47"), "the checkout shows the total");
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByLabel("CVC").fill("123");
  await shot(page, "checkout");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Thank you for your order" }).waitFor();

  // The order is paid and its timeline (the history projection) says so.
  await page.getByRole("link", { name: "See the order and its timeline" }).click();
  await page.waitForURL(new RegExp(`/orders/${orderId}$`));
  const status = page.getByTestId("order-status");
  await status.waitFor();
  assert((await status.textContent()) === "paid", `the order is paid, not ${await status.textContent()}`);
  await page.getByRole("list", { name: "Timeline" }).getByText("paid", { exact: true }).waitFor();
  await page.getByRole("link", { name: "Orders", exact: true }).click();
  await page.getByRole("link", { name: `Order #${orderId}` }).waitFor();
  await page.context().close();
});

scenario("a declined card says so in words, and a retry with a good card pays", async ({ products }) => {
  const page = await newPage();
  await loginUi(page, await newShopper("dee"));
  await addFromProductPage(page, products.lamp.id, 2);
  await checkoutToPaymentForm(page);
  await payByCard(page, "4000 0000 0000 0002");
  await page.getByText("Your card was declined. Try another card.").waitFor();
  await payByCard(page, "4242 4242 4242 4242");
  await page.getByRole("heading", { name: "Thank you for your order" }).waitFor();
  await page.context().close();
});

scenario("paying by PayPal: a declined account says so in words, another account pays", async ({ products }) => {
  const page = await newPage();
  await loginUi(page, await newShopper("pam"));
  await addFromProductPage(page, products.stool.id, 1);
  await checkoutToPaymentForm(page);
  const orderId = page.url().split("/").pop();
  await page.getByLabel("PayPal", { exact: true }).check();
  await page.getByLabel("PayPal email").fill("declined@sandbox.example.com");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByText("PayPal declined the payment.").waitFor();
  await page.getByLabel("PayPal", { exact: true }).check();
  await page.getByLabel("PayPal email").fill("pam@sandbox.example.com");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Thank you for your order" }).waitFor();
  await page.getByText(`Order #${orderId} is paid.`).waitFor();
  await page.context().close();
});

scenario("paying by bank transfer: the order ends paid", async ({ products }) => {
  const page = await newPage();
  await loginUi(page, await newShopper("ben"));
  await addFromProductPage(page, products.stool.id, 2);
  await checkoutToPaymentForm(page);
  const orderId = page.url().split("/").pop();
  await page.getByLabel("Bank transfer").check();
  await page.getByLabel("IBAN").fill("DE89 3704 0044 0532 0130 00");
  await page.getByLabel("Account holder").fill("Ben Example");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByText(`Order #${orderId} is paid.`).waitFor();
  await page.getByRole("link", { name: "See the order and its timeline" }).click();
  const status = page.getByTestId("order-status");
  await status.waitFor();
  assert((await status.textContent()) === "paid", `the order is paid, not ${await status.textContent()}`);
  await page.context().close();
});

scenario("the product page revalidates its product with If-None-Match (the browser's HTTP cache)", async ({ products }) => {
  const page = await newPage();
  await loginUi(page, await newShopper("tag"));
  const path = `/api/products/${products.chair.id}/`;
  const seen = [];
  page.on("requestfinished", async (request) => {
    if (new URL(request.url()).pathname !== path) return;
    const response = await request.response();
    seen.push({ sent: (await request.allHeaders())["if-none-match"] ?? null, etag: response && (await response.allHeaders())["etag"] });
  });
  await page.goto(`${BASE}/products/${products.chair.id}`);
  await page.getByRole("heading", { name: products.chair.name }).waitFor();
  await page.waitForFunction(() => !document.querySelector(".loading"));
  await sleep(1500); // past the catalog's max-age=1: the copy is stale and must be revalidated
  const before = seen.length; // the first visit may fetch more than once (the session settling)
  await page.getByRole("link", { name: "Catalog", exact: true }).click();
  await page.getByRole("heading", { name: "Catalog" }).waitFor();
  await page.goBack();
  await page.getByRole("heading", { name: products.chair.name }).waitFor();
  for (let i = 0; seen.length <= before; i++) {
    assert(i < 50, `the product was not fetched again: ${JSON.stringify(seen)}`);
    await sleep(100);
  }
  const etag = seen[0].etag;
  const again = seen[before];
  assert(before > 0 && etag && again.sent && again.sent.replace(/^W\//, "") === etag.replace(/^W\//, ""), `no If-None-Match with the ETag: ${JSON.stringify(seen)}`);
  assert((await text(page.locator(".product .big"))).startsWith("€"), "the revalidated product still shows its price");
  await page.context().close();
});

scenario("a shopper creates, renames and deletes wishlists and chooses which one a product goes to", async ({ products }) => {
  const page = await newPage();
  await loginUi(page, await newShopper("wes"));
  await page.getByRole("link", { name: "Wishlist", exact: true }).click();
  await page.getByRole("heading", { name: "Wishlist", exact: true }).waitFor();
  const create = async (name) => {
    await page.getByLabel("New wishlist name", { exact: true }).fill(name);
    await page.getByRole("button", { name: "Create wishlist" }).click();
  };
  await create("Gifts");
  await page.getByText("Wishlist “Gifts” created.").waitFor();
  await create("Later");
  await page.getByRole("heading", { name: "Later", exact: true }).waitFor();
  // A second list by one name is refused in words (409 problem+json), and nothing changes.
  await create("Gifts");
  await page.getByRole("alert").getByText("You already have a wishlist with this name.").waitFor();
  assert((await page.getByTestId("wishlist").count()) === 2, "the refused name made no third list");

  // The product page offers both lists; the lamp goes to "Later".
  await page.goto(`${BASE}/products/${products.lamp.id}`);
  const choice = page.getByLabel("Save to wishlist");
  await choice.locator("option", { hasText: "Later" }).waitFor({ state: "attached" });
  await choice.selectOption({ label: "Later" });
  await page.getByRole("button", { name: "Add to wishlist" }).click();
  await page.getByText("Saved to your wishlist “Later”.").waitFor();
  await page.getByRole("link", { name: "Wishlist", exact: true }).click();
  const later = page.getByRole("region", { name: "Later", exact: true });
  await later.getByRole("link", { name: products.lamp.name }).waitFor();
  assert(!(await page.getByRole("region", { name: "Gifts", exact: true }).getByRole("link", { name: products.lamp.name }).count()), "the lamp is not in Gifts");

  // Rename: to a taken name is refused in words; to a free one, the list follows.
  await page.getByLabel("New name for Later").fill("Gifts");
  await page.getByRole("button", { name: "Rename Later" }).click();
  await page.getByRole("alert").getByText("You already have a wishlist with this name.").waitFor();
  await page.getByRole("heading", { name: "Later", exact: true }).waitFor();
  await page.getByLabel("New name for Later").fill("Someday");
  await page.getByRole("button", { name: "Rename Later" }).click();
  await page.getByText("“Later” is now “Someday”.").waitFor();
  const someday = page.getByRole("region", { name: "Someday", exact: true });
  await someday.getByRole("link", { name: products.lamp.name }).waitFor();

  // Delete: the list and its item go; the other list stays.
  await page.getByRole("button", { name: "Delete Someday" }).click();
  await page.getByText("“Someday” is deleted.").waitFor();
  await someday.waitFor({ state: "detached" });
  await page.getByRole("heading", { name: "Gifts", exact: true }).waitFor();
  assert((await page.getByTestId("wishlist").count()) === 1, "one list is left");
  await page.context().close();
});

scenario("an out-of-stock checkout shows its message", async ({ products }) => {
  const page = await newPage();
  await loginUi(page, await newShopper("oos"));
  await addFromProductPage(page, products.vase.id, 2); // one in stock
  await checkoutToPaymentForm(page);
  await page.getByText("Some items are out of stock").waitFor();
  assert(!(await page.getByLabel("Card number").count()), "no payment form for a cancelled order");
  await page.context().close();
});

scenario("staff edit a price and the shopper sees it", async ({ products }) => {
  const staff = await newPage();
  await loginUi(staff, STAFF);
  await staff.getByRole("link", { name: "Staff", exact: true }).click();
  await staff.getByRole("heading", { name: "Products" }).waitFor();
  await staff.getByRole("searchbox", { name: "Find" }).fill(`lamp ${RUN}`);
  await staff.getByRole("button", { name: "Search" }).click();
  const row = staff.getByTestId("admin-product").filter({ hasText: products.lamp.name });
  await row.waitFor();
  await staff.waitForFunction(() => document.querySelectorAll('[data-testid="admin-product"]').length === 1);
  await row.getByLabel("Price").fill("17.25");
  await row.getByRole("button", { name: `Save ${products.lamp.name}` }).click();
  await staff.getByText(`${products.lamp.name} now costs €17.25.`).waitFor();
  await shot(staff, "admin-products");
  await staff.goto(`${BASE}/admin/reports`);
  await staff.getByRole("heading", { name: "Low stock" }).waitFor();
  await staff.context().close();

  const shopper = await newPage();
  await loginUi(shopper, await newShopper("pat"));
  for (let i = 0; ; i++) {
    await shopper.goto(`${BASE}/products/${products.lamp.id}`);
    await shopper.getByRole("heading", { name: products.lamp.name }).waitFor();
    if ((await text(shopper.locator(".product .big"))) === "€17.25") break;
    assert(i < 20, "the shopper never saw the new price");
    await sleep(250);
  }
  await shopper.context().close();
});

scenario("a shopper reviews a product, keeps a wishlist, edits the profile and cancels an order", async ({ products }) => {
  const page = await newPage();
  const who = await newShopper("kim");
  await loginUi(page, who);
  // Review: write, edit, delete.
  await page.goto(`${BASE}/products/${products.table.id}`);
  await page.getByLabel("Rating").selectOption("4");
  await page.getByLabel("Comment").fill("Sturdy and handsome.");
  await page.getByRole("button", { name: "Post review" }).click();
  await page.locator(".reviews").getByText("Sturdy and handsome.", { exact: true }).waitFor();
  await page.getByRole("heading", { name: "Edit your review" }).waitFor();
  await page.getByLabel("Comment").fill("Sturdy, handsome, heavy.");
  await page.getByRole("button", { name: "Save review" }).click();
  await page.locator(".reviews").getByText("Sturdy, handsome, heavy.", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Delete review" }).click();
  await page.getByText("No reviews yet.").waitFor();
  // Wishlist: save, then move to the cart.
  await page.getByRole("button", { name: "Add to wishlist" }).click();
  await page.getByText("Saved to your wishlist “My wishlist”.").waitFor();
  await page.getByRole("link", { name: "Wishlist", exact: true }).click();
  await page.getByRole("link", { name: products.table.name }).waitFor();
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByText(`${products.table.name} is in your cart.`).waitFor();
  // Profile.
  await page.goto(`${BASE}/account`);
  await page.getByLabel("First name").fill("Kim");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Your profile is saved.").waitFor();
  // An unpaid order can be cancelled.
  await checkoutToPaymentForm(page);
  await page.getByLabel("Card number").waitFor();
  const orderId = page.url().split("/").pop();
  await page.goto(`${BASE}/orders/${orderId}`);
  await page.getByRole("button", { name: "Cancel order" }).click();
  await page.getByTestId("order-status").getByText("cancelled").waitFor();
  await page.context().close();
});

scenario("a customer cannot see staff pages and gets no staff data", async () => {
  const page = await newPage();
  await loginUi(page, await newShopper("eve"));
  const answered = [];
  page.on("response", (r) => answered.push({ url: r.url(), status: r.status() }));
  assert(!(await page.getByRole("link", { name: "Staff", exact: true }).count()), "no staff link for a customer");
  for (const path of ["/admin/products", "/admin/users", "/admin/reports", "/admin/orders"]) {
    await page.goto(`${BASE}${path}`);
    await page.getByText("This page is for shop staff.").waitFor();
  }
  const staffData = answered.filter(
    (r) => /\/api\/(users\/(\?|$)|reports\/(low-stock|customer-stats|category-stats))/.test(r.url) && r.status < 400,
  );
  assert(staffData.length === 0, `staff data reached a customer: ${JSON.stringify(staffData)}`);
  // And the API itself refuses, whatever the page does.
  const status = await page.evaluate(async () => (await fetch("/api/users/")).status);
  assert(status === 401, `GET /api/users/ without a token: ${status}`);
  await page.context().close();
});

scenario("the session survives a reload through the HttpOnly refresh cookie, which scripts cannot read", async () => {
  const page = await newPage();
  await loginUi(page, await newShopper("ray"));
  const cookies = await page.context().cookies();
  const refresh = cookies.find((c) => c.name === "shop_refresh");
  assert(refresh && refresh.httpOnly && refresh.sameSite === "Strict" && refresh.path === "/api/auth/", `refresh cookie: ${JSON.stringify(refresh)}`);
  assert(!(await page.evaluate(() => document.cookie)).includes("shop_refresh"), "the refresh token is readable by scripts");
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert(storage === "{}{}", `tokens in web storage: ${storage}`);
  await page.reload();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  // Two tabs of one login refresh at once: neither is taken for a token thief.
  const second = await page.context().newPage();
  await Promise.all([page.reload(), second.goto(`${BASE}/account`)]);
  await page.getByRole("button", { name: "Log out" }).waitFor();
  await second.getByRole("button", { name: "Log out" }).waitFor();
  await page.reload();
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("link", { name: "Log in" }).waitFor();
  await page.reload();
  await page.getByRole("link", { name: "Log in" }).waitFor();
  await page.context().close();
});

scenario("staff deactivate a signed-in customer: the customer's next call fails and the SPA sends them to log in; reactivated, they log in again", async () => {
  const who = await newShopper("dan");
  const customer = await newPage();
  const refused = [];
  customer.on("response", (r) => r.url().includes("/api/") && r.status() === 401 && refused.push(new URL(r.url()).pathname));
  await loginUi(customer, who);
  await customer.getByRole("link", { name: "Orders", exact: true }).click();
  await customer.getByRole("heading", { name: "Your orders" }).waitFor();

  const staff = await newPage();
  await loginUi(staff, STAFF);
  await staff.getByRole("link", { name: "Staff", exact: true }).click();
  await staff.getByRole("navigation", { name: "Staff" }).getByRole("link", { name: "Users" }).click();
  await staff.getByRole("heading", { name: "Users" }).waitFor();
  const rows = staff.getByTestId("admin-user");
  const row = rows.filter({ hasText: who.email });
  const active = row.getByRole("cell").nth(3);
  const role = row.getByRole("cell").nth(2);
  await row.waitFor();
  const own = rows.filter({ hasText: STAFF.email });
  await own.getByText("Your own account").waitFor();
  assert(!(await own.getByRole("button").count()), "the signed-in staff user gets no buttons for their own account");

  // By keyboard: the dialog opens on the safe choice; Escape cancels and changes nothing.
  await row.getByRole("button", { name: `Deactivate ${who.email}` }).focus();
  await staff.keyboard.press("Enter");
  const dialog = staff.getByRole("dialog", { name: `Deactivate ${who.email}?` });
  await dialog.waitFor();
  assert((await staff.evaluate(() => document.activeElement?.textContent)) === "Cancel", "the dialog opens with Cancel focused");
  const violations = await axeSerious(staff, "/admin/users with the dialog open");
  await staff.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  assert((await text(active)) === "yes", "a cancelled deactivation changes nothing");
  // Focus is back on the row's button: Enter, Tab to the confirmation, Enter.
  await staff.keyboard.press("Enter");
  await dialog.waitFor();
  await staff.keyboard.press("Tab");
  await staff.keyboard.press("Enter");
  await staff.getByText(`${who.email} is now deactivated, a customer.`).waitFor();
  await row.getByRole("button", { name: `Reactivate ${who.email}` }).waitFor();
  assert((await text(active)) === "no", "the list shows the customer deactivated");
  violations.push(...(await axeSerious(staff, "/admin/users")));
  assert(violations.length === 0, `axe found:\n  ${violations.join("\n  ")}`);

  // The customer's tokens are refused within about a second: move between two pages
  // (each makes an API call) until the SPA gives up on the login and shows the login page.
  for (let i = 0; new URL(customer.url()).pathname !== "/login"; i++) {
    assert(i < 150, "the deactivated customer was never sent to the login page");
    const [link, heading] = i % 2 ? ["Orders", "Your orders"] : ["Wishlist", "Wishlist"];
    await customer.getByRole("link", { name: link, exact: true }).click();
    await customer.waitForFunction(
      (h) => location.pathname === "/login" || (document.querySelector("h1")?.textContent === h && !document.querySelector(".loading")),
      heading,
    );
    if (new URL(customer.url()).pathname !== "/login") await sleep(100);
  }
  await customer.getByText("Your session has ended. Please log in again.").waitFor();
  await customer.getByRole("link", { name: "Log in" }).waitFor();
  assert(refused.some((path) => !path.startsWith("/api/auth/")), `no API call was refused: ${refused}`);
  assert(refused.includes("/api/auth/refresh/"), `the refresh was not refused: ${refused}`);
  // A deactivated account cannot log in again.
  await customer.getByLabel("Email").fill(who.email);
  await customer.getByLabel("Password").fill(who.password);
  await customer.getByRole("button", { name: "Log in" }).click();
  await customer.getByRole("alert").getByText("The email or password is incorrect.").waitFor();

  // Reactivated (no confirmation needed), the customer logs in; promoted and demoted, the role follows.
  await row.getByRole("button", { name: `Reactivate ${who.email}` }).click();
  await staff.getByText(`${who.email} is now active, a customer.`).waitFor();
  await row.getByRole("button", { name: `Deactivate ${who.email}` }).waitFor();
  assert((await text(active)) === "yes", "the list shows the customer active again");
  await loginUi(customer, who);
  await row.getByRole("button", { name: `Promote ${who.email}` }).click();
  await row.getByRole("button", { name: `Demote ${who.email}` }).waitFor();
  assert((await text(role)) === "staff", "the list shows the promotion");
  await customer.reload();
  await customer.getByRole("link", { name: "Staff", exact: true }).waitFor();
  await row.getByRole("button", { name: `Demote ${who.email}` }).click();
  await row.getByRole("button", { name: `Promote ${who.email}` }).waitFor();
  assert((await text(role)) === "customer", "the list shows the demotion");
  await staff.context().close();
  await customer.context().close();
});

scenario("main pages have no serious accessibility violations (axe-core), work at phone width and by keyboard", async ({ products }) => {
  const who = await newShopper("axe");
  const serious = [];
  for (const width of [1280, 375]) {
    const page = await newPage({ width, height: 800 });
    await page.goto(`${BASE}/`);
    await page.getByRole("heading", { name: "Bestsellers" }).waitFor();
    await page.keyboard.press("Tab");
    assert((await page.evaluate(() => document.activeElement?.textContent)) === "Skip to content", "the first Tab stop is the skip link");
    const pages = [
      ["/", "Bestsellers"],
      ["/products", "Catalog"],
      [`/products/${products.chair.id}`, products.chair.name],
      ["/login", "Log in"],
      ["/register", "Create an account"],
    ];
    const afterLogin = [
      ["/cart", "Your cart"],
      ["/orders", "Your orders"],
      ["/account", "Your account"],
      ["/wishlist", "Wishlist"],
    ];
    const scan = async ([path, heading]) => {
      await page.goto(`${BASE}${path}`);
      await page.getByRole("heading", { name: heading }).first().waitFor();
      await page.waitForFunction(() => !document.querySelector(".loading"));
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 0, `${path} scrolls sideways by ${overflow}px at ${width}px`);
      if (width < 600) return; // axe once, at desktop width; the phone pass checks layout
      await page.evaluate(axe.source);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
      for (const v of result.violations) {
        if (v.impact === "serious" || v.impact === "critical") serious.push(`${path} @${width}px: ${v.id} (${v.nodes.length}) ${v.help}`);
      }
    };
    for (const entry of pages) await scan(entry);
    await loginUi(page, who);
    await addFromProductPage(page, products.stool.id, 1);
    for (const entry of afterLogin) await scan(entry);
    await page.context().close();
  }
  assert(serious.length === 0, `axe found:\n  ${serious.join("\n  ")}`);
});

// ---- run ------------------------------------------------------------------------------------

async function main() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  let failed = 0;
  const started = Date.now();
  try {
    const data = await seed();
    for (const { name, fn } of scenarios) {
      if (ONLY && !name.includes(ONLY)) continue;
      const t0 = Date.now();
      try {
        await fn(data);
        console.log(`ok - ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed++;
        console.log(`not ok - ${name}\n  ${String(error?.stack ?? error).split("\n").slice(0, 6).join("\n  ")}`);
      }
    }
    if (cspViolations.length) {
      failed++;
      console.log(`not ok - the app runs under its Content-Security-Policy, without script errors\n  ${cspViolations.join("\n  ")}`);
    } else {
      console.log("ok - the app runs under its Content-Security-Policy (no violation or script error reported)");
    }
  } finally {
    await browser.close();
  }
  console.log(`${failed ? "FAILED" : "passed"}: ${scenarios.length} scenarios in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.log(`not ok - setup\n  ${error?.stack ?? error}`);
  process.exit(1);
});
