/** The shell: header navigation, a skip link, and the routes of shop and staff pages. */

import { useEffect, useRef } from "react";
import { Link, Route, Switch, useLocation } from "wouter";
import { session } from "./api/client";
import { useMe } from "./state";
import { Home } from "./pages/Home";
import { Catalog } from "./pages/Catalog";
import { ProductPage } from "./pages/Product";
import { CartPage } from "./pages/Cart";
import { CheckoutPage } from "./pages/Checkout";
import { OrderPage, OrdersPage, SuccessPage } from "./pages/Orders";
import { WishlistPage } from "./pages/Wishlist";
import { AccountPage, LoginPage, RegisterPage } from "./pages/Account";
import { StaffRoutes } from "./admin/Staff";
import { Page } from "./ui";

function Header() {
  const { me } = useMe();
  const [, navigate] = useLocation();
  return (
    <header className="top">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Link href="/" className="brand">
        Highload Shop
      </Link>
      <nav aria-label="Main">
        <Link href="/products">Catalog</Link>
        <Link href="/cart">Cart</Link>
        {me && <Link href="/orders">Orders</Link>}
        {me && <Link href="/wishlist">Wishlist</Link>}
        {me?.is_staff && <Link href="/admin/products">Staff</Link>}
        {me ? (
          <>
            <Link href="/account">{me.username}</Link>
            <button
              type="button"
              className="link"
              onClick={() => void session.logout().then(() => navigate("/"))}
            >
              Log out
            </button>
          </>
        ) : (
          <>
            <Link href="/login">Log in</Link>
            <Link href="/register">Register</Link>
          </>
        )}
      </nav>
    </header>
  );
}

/** When the server ends the login (say, staff deactivated the account), go to the login page. */
function LoginWhenEnded() {
  const [, navigate] = useLocation();
  useEffect(() => session.onEnded(() => navigate("/login", { state: { ended: true } })), [navigate]);
  return null;
}

/** Moves focus to the new page's heading, so keyboard and screen-reader users follow. */
function FocusOnNavigate() {
  const [location] = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById("main")?.focus();
  }, [location]);
  return null;
}

export function App() {
  return (
    <>
      <Header />
      <FocusOnNavigate />
      <LoginWhenEnded />
      <main id="main" tabIndex={-1}>
        <Switch>
          <Route path="/" component={Home} />
          <Route path="/products" component={Catalog} />
          <Route path="/products/:id">{(p) => <ProductPage id={Number(p.id)} />}</Route>
          <Route path="/cart" component={CartPage} />
          <Route path="/checkout/:id">{(p) => <CheckoutPage id={Number(p.id)} />}</Route>
          <Route path="/orders" component={OrdersPage} />
          <Route path="/orders/:id/success">{(p) => <SuccessPage id={Number(p.id)} />}</Route>
          <Route path="/orders/:id">{(p) => <OrderPage id={Number(p.id)} />}</Route>
          <Route path="/wishlist" component={WishlistPage} />
          <Route path="/login" component={LoginPage} />
          <Route path="/register" component={RegisterPage} />
          <Route path="/account" component={AccountPage} />
          <Route path="/admin/*?" component={StaffRoutes} />
          <Route>
            <Page title="Page not found">
              <p>
                There is nothing here. <Link href="/products">Browse the catalog</Link>.
              </p>
            </Page>
          </Route>
        </Switch>
      </main>
      <footer className="bottom">
        <p>Highload Shop · test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined</p>
      </footer>
    </>
  );
}
