// Two pages from one build: the chat app (/) and the admin console (/admin/).
// Output goes to web/dist, pipitd's default web_root; hashed files under
// /assets/ are served as immutable. `npm run dev -w @pipit/web` proxies the API
// to a pipitd on 127.0.0.1:8080.
import { defineConfig } from 'vite';

const page = (path: string) => new URL(path, import.meta.url).pathname;

export default defineConfig({
  root: page('.'),
  base: '/',
  publicDir: 'public',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // No inline scripts or styles: the Content-Security-Policy forbids them.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        chat: page('index.html'),
        admin: page('admin/index.html'),
      },
    },
  },
  server: {
    proxy: {
      '/v1': { target: 'http://127.0.0.1:8080', ws: true },
      '/healthz': 'http://127.0.0.1:8080',
      '/metrics': 'http://127.0.0.1:8080',
    },
  },
});
