import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `make storefront-dev` runs this dev server on :5173 and proxies the API to the
// gateway, so the page and the API share one origin as they do behind nginx (the
// SameSite=Strict refresh cookie needs that).
const gateway = process.env.SHOP_GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  server: {
    host: "127.0.0.1",
    port: 5173,
    strictPort: true,
    proxy: { "/api": gateway, "/.well-known": gateway },
  },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    // No inline scripts or styles: the Content-Security-Policy allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
