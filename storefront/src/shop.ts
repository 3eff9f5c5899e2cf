/** Shopper actions shared by several pages: the open cart, the wishlists. */

import { api, must, type Cart, type Wishlist } from "./api/client";

export function openCart(): Promise<Cart> {
  return must(api.POST("/api/shopping-carts/"));
}

export async function addToCart(productId: number, quantity: number): Promise<void> {
  const cart = await openCart();
  await must(api.POST("/api/cart-items/", { body: { cart_id: cart.id, product_id: productId, quantity } }));
}

export async function defaultWishlist(): Promise<Wishlist> {
  const page = await must(api.GET("/api/wishlists/", { params: { query: { limit: 1 } } }));
  return page.results[0] ?? must(api.POST("/api/wishlists/", { body: { name: "My wishlist" } }));
}

/** Save a product to the chosen wishlist (the first one, made if need be, by default); its name. */
export async function addToWishlist(productId: number, list?: Wishlist): Promise<string> {
  const target = list ?? (await defaultWishlist());
  await must(api.POST("/api/wishlist-items/", { body: { wishlist_id: target.id, product_id: productId } }));
  return target.name;
}
