// Bundles the page into dist/: index.html, app.js (app + MessagePack decoder +
// uPlot) and app.css. No timestamps, hashes of the environment or source maps
// go into the output, so the same lock file gives the same bytes.
import { copyFile, mkdir, rm } from "node:fs/promises";
import { build } from "esbuild";

const outdir = "dist";
await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { app: "src/app.js" },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "eof",
  charset: "utf8",
  outdir,
  logLevel: "warning",
});
await copyFile("src/index.html", `${outdir}/index.html`);
