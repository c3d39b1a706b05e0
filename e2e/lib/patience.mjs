// How long the browser suite waits for any one condition (a node answering, a page showing a
// result, a transaction mined) before it gives up: bounded, so that a broken build fails instead of
// hanging, and wide, so that a loaded or single-core machine never meets it. Every wait polls its
// condition; none is a fixed sleep.
export const PATIENCE_MS = 180_000;
