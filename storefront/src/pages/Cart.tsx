/** Cart: lines with quantity and remove, the exact total, and checkout (one
 * Idempotency-Key per attempt, so a retried click never orders twice). */

import { useRef, useState } from "react";
import { Link, useLocation } from "wouter";
import { api, must, mustOk, type Cart } from "../api/client";
import { newIdempotencyKey } from "../lib/ids";
import { sum, times } from "../lib/money";
import { errorMessage, sameAttempt } from "../lib/problem";
import { retryWhileBusy } from "../lib/retry";
import { openCart } from "../shop";
import { useLoad, useMe } from "../state";
import { Empty, ErrorNote, Loading, Page, Price, ProductImage } from "../ui";

export function CartPage() {
  const { me, ready } = useMe();
  if (!ready) return <Loading />;
  if (!me)
    return (
      <Page title="Your cart">
        <p>
          <Link href="/login">Log in</Link> to fill a cart.
        </p>
      </Page>
    );
  return <CartView />;
}

function CartView() {
  const [, navigate] = useLocation();
  const loaded = useLoad(openCart, []);
  const [cart, setCart] = useState<Cart | null>(null);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const attempt = useRef<string | null>(null);
  const current = cart ?? loaded.data;

  const reload = async (id: number) => {
    setCart(await must(api.GET("/api/shopping-carts/{cart_id}/", { params: { path: { cart_id: id } } })));
  };

  const change = async (itemId: number, quantity: number) => {
    if (!current || !Number.isInteger(quantity) || quantity < 1) return;
    setError(null);
    setPending(true);
    // Show the new total at once, computed exactly; the API's total replaces it.
    setCart({
      ...current,
      items: current.items.map((i) => (i.id === itemId ? { ...i, quantity, line_total: times(i.unit_price, quantity) } : i)),
    });
    try {
      await must(api.PATCH("/api/cart-items/{item_id}/", { params: { path: { item_id: itemId } }, body: { quantity } }));
      await reload(current.id);
    } catch (e) {
      setError(errorMessage(e));
      await reload(current.id).catch(() => undefined);
    } finally {
      setPending(false);
    }
  };

  const remove = async (itemId: number) => {
    if (!current) return;
    setError(null);
    try {
      await mustOk(api.DELETE("/api/cart-items/{item_id}/", { params: { path: { item_id: itemId } } }));
      await reload(current.id);
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  const checkout = async () => {
    if (!current) return;
    setError(null);
    setPending(true);
    attempt.current ??= newIdempotencyKey();
    try {
      const key = attempt.current;
      // A flash sale's queue may answer busy: the same request goes again on its own.
      const order = await retryWhileBusy(() =>
        must(
          api.POST("/api/orders/", {
            params: { header: { "Idempotency-Key": key } },
            body: { cart_id: current.id },
          }),
        ),
      );
      attempt.current = null;
      navigate(`/checkout/${order.id}`);
    } catch (e) {
      // A refusal ends this attempt; a lost answer (network, 5xx) keeps the key, so the
      // retry answers the order the first one may have placed instead of a second one.
      if (!sameAttempt(e)) attempt.current = null;
      setError(errorMessage(e));
      setPending(false);
    }
  };

  if (loaded.loading && !current) return <Loading label="Loading your cart…" />;
  if (!current) return <ErrorNote message={loaded.error} />;
  const total = pending ? sum(current.items.map((i) => i.line_total)) : current.total;
  return (
    <Page title="Your cart">
      {current.items.length === 0 ? (
        <Empty>
          Your cart is empty. <Link href="/products">Browse the catalog</Link>.
        </Empty>
      ) : (
        <>
          <table className="lines">
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Price</th>
                <th scope="col">Quantity</th>
                <th scope="col">Total</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {current.items.map((item) => (
                <tr key={item.id} data-testid="cart-line">
                  <td>
                    <span className="line-product">
                      <ProductImage name={item.name} />
                      <Link href={`/products/${item.product_id}`}>{item.name}</Link>
                    </span>
                    {!item.available && <span className="stock out"> no longer available</span>}
                  </td>
                  <td>
                    <Price value={item.unit_price} />
                  </td>
                  <td>
                    <input
                      type="number"
                      min={1}
                      max={100}
                      aria-label={`Quantity of ${item.name}`}
                      defaultValue={item.quantity}
                      key={`${item.id}-${item.quantity}`}
                      onBlur={(e) => Number(e.target.value) !== item.quantity && void change(item.id, Number(e.target.value))}
                      onKeyDown={(e) => e.key === "Enter" && e.currentTarget.blur()}
                    />
                  </td>
                  <td>
                    <Price value={item.line_total} />
                  </td>
                  <td>
                    <button type="button" className="secondary" onClick={() => void remove(item.id)} aria-label={`Remove ${item.name}`}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row" colSpan={3}>
                  Total
                </th>
                <td data-testid="cart-total" aria-live="polite">
                  <Price value={total} />
                </td>
                <td />
              </tr>
            </tfoot>
          </table>
          <ErrorNote message={error} />
          <button type="button" className="primary" disabled={pending} onClick={() => void checkout()}>
            {pending ? "Please wait…" : "Check out"}
          </button>
        </>
      )}
    </Page>
  );
}
