// Bundles the page into dist/: index.html, app.js (app + MessagePack decoder +
// uPlot + the state shapes) and app.css. No timestamps, hashes of the environment
// or source maps go into the output, so the same lock file gives the same bytes.
import { copyFile, mkdir, rm } from "node:fs/promises";
import { build } from "esbuild";
import { stateShapes, stateShapesModule } from "./map-shapes.mjs";
import { STATES } from "./src/states.js";

// The page's state table and the atlas must agree, or a state would be drawn
// with another's colour; a mismatch stops the build.
const { shapes } = stateShapes();
for (const [code, [fips, name]] of Object.entries(STATES)) {
  if (shapes[fips]?.name !== name) {
    throw new Error(`src/states.js: ${code} is FIPS ${fips} "${name}", the atlas has "${shapes[fips]?.name}"`);
  }
}
if (Object.keys(shapes).length !== Object.keys(STATES).length) {
  throw new Error(`the atlas has ${Object.keys(shapes).length} shapes, src/states.js ${Object.keys(STATES).length}`);
}

// `import { SHAPES } from "us-map"` gets the shapes converted above.
const usMap = {
  name: "us-map",
  setup(b) {
    b.onResolve({ filter: /^us-map$/ }, () => ({ path: "us-map", namespace: "us-map" }));
    b.onLoad({ filter: /.*/, namespace: "us-map" }, () => ({ contents: stateShapesModule(), loader: "js" }));
  },
};

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
  plugins: [usMap],
  logLevel: "warning",
});
await copyFile("src/index.html", `${outdir}/index.html`);
