// The site served from a sub-path by the static server `make serve` runs, and Debian's Chromium
// driven by playwright-core, for the browser tests and measurements.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const root = resolve(import.meta.dirname, '../..');

// Without the background-networking flags Chromium keeps dialling out of this closed network.
const chromiumFlags = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
];

function freePort() {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/**
 * Serves www/ at http://127.0.0.1:PORT/designer/ (a sub-path, as on a real static host), with
 * `config` as its config.json if given (the Lambda URL of a test's emulator, a model's URL),
 * and `files` (name in the site -> path here) beside it.
 */
export async function serveSite(config, files = {}) {
  const scratch = mkdtempSync(join(tmpdir(), 'designer-site-'));
  const site = join(scratch, 'designer');
  if (config) {
    mkdirSync(site);
    for (const entry of readdirSync(join(root, 'www')).filter((name) => name !== 'config.json')) {
      symlinkSync(join(root, 'www', entry), join(site, entry));
    }
    writeFileSync(join(site, 'config.json'), JSON.stringify(config));
    for (const [name, path] of Object.entries(files)) symlinkSync(resolve(path), join(site, name));
  } else {
    symlinkSync(join(root, 'www'), site);
  }
  const port = await freePort();
  const server = spawn('python3', ['-m', 'http.server', '--bind', '127.0.0.1', String(port), '--directory', scratch],
    { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}/designer/`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}index.html`)).ok) break;
    } catch { /* not up yet */ }
    if (i === 100) throw new Error(`no static server at ${base}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    scratch,
    close() {
      server.kill();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** Waits until something listens on 127.0.0.1:`port`. */
async function listening(port, what) {
  for (let i = 0; i < 600; i++) {
    const up = await new Promise((done) => {
      // A socket connected to itself (the kernel picked `port` as its source) is no server.
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        const self = socket.localPort === port;
        socket.end();
        done(!self);
      });
      socket.on('error', () => done(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${port}`);
}

/**
 * The release Lambda function under cargo lambda's runtime API emulator on 127.0.0.1 (as the
 * Lambda tests run it); `url` is its function URL.
 */
export async function startLambda() {
  const port = await freePort();
  const emulator = spawn(join(root, '.venv/bin/cargo-lambda'),
    ['lambda', 'watch', '--only-lambda-apis', '-A', '127.0.0.1', '-P', String(port)],
    { cwd: root, stdio: 'ignore' });
  await listening(port, 'cargo lambda watch');
  const fn = spawn(join(root, 'target/release/designer-lambda'), [], {
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH,
      AWS_LAMBDA_RUNTIME_API: `http://127.0.0.1:${port}/.rt`,
      AWS_LAMBDA_FUNCTION_NAME: '_',
      AWS_LAMBDA_FUNCTION_VERSION: '1',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '4096',
    },
  });
  return {
    url: `http://127.0.0.1:${port}/lambda-url/_/`,
    close() { fn.kill(); emulator.kill(); },
  };
}

// A measurement on a real GPU (bench/gpu/browser.sh) runs a Chromium carried to that machine
// (CHROMIUM) with the flags that give WebGPU its Vulkan device there (CHROMIUM_WEBGPU_FLAGS).
// Read at each launch: bench/gpu/adapter.mjs tries several sets in one process.
const webgpuFlags = () => ['--enable-unsafe-webgpu',
  ...(process.env.CHROMIUM_WEBGPU_FLAGS ?? '').split(' ').filter(Boolean)];

/** Opens the site in headless Chromium, with or without WebGPU, without waiting for it.
 * CHROMIUM_WINDOW=1 opens a window on $DISPLAY instead: headless on the GPU machine, Chromium's
 * GPU process reaches no driver but SwiftShader's (BENCHMARKS.md, thirteenth session), so
 * bench/gpu/browser.sh tries a virtual X display (Xvfb) there too. */
export async function launch(base, { webgpu }) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: !process.env.CHROMIUM_WINDOW,
    args: webgpu ? [...chromiumFlags, ...webgpuFlags()] : chromiumFlags,
  });
  const page = await browser.newPage();
  page.on('pageerror', (error) => console.error('page error:', error));
  await page.goto(base);
  return { browser, page };
}

/** The WebGPU adapter the browser gives `page`, in words ('no adapter' where it gives none). */
export function webgpuAdapter(page) {
  return page.evaluate(async () => {
    const found = await navigator.gpu?.requestAdapter();
    if (!found) return 'no adapter';
    const { info } = found;
    return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ');
  });
}

/** Opens the site as `launch` does, once the generator is ready. */
export async function openSite(base, options) {
  const opened = await launch(base, options);
  await opened.page.waitForSelector('body[data-backend]', { timeout: 120_000 });
  return opened;
}

/** Fills the form with `request` and generates; resolves once designs or an error show. */
export async function submit(page, request) {
  await page.locator('details').evaluate((details) => { details.open = true; });
  await page.selectOption('#room_type', request.room_type);
  await page.selectOption('#style', request.style);
  await page.fill('#variations', String(request.variations));
  await page.fill('#seed', String(request.seed));
  await page.fill('#steps', String(request.steps));
  await page.selectOption('#size', String(request.size));
  await page.click('#generate');
  // The button is disabled from the click until the worker answers.
  await page.waitForFunction(
    (n) => !document.getElementById('generate').disabled
      && (document.querySelectorAll('#results figure img').length === n
        || !document.getElementById('error').hidden),
    request.variations, { timeout: 600_000 },
  );
  const error = await page.locator('#error');
  if (!(await error.isHidden())) throw new Error(await error.textContent());
}

// Largest difference, in 8-bit levels, allowed between two backends' pixels for one seed, and
// the mean over all pixels. The starting noise is the same bytes everywhere; GPU float
// arithmetic (fused multiply-adds, other summation orders) moves values slightly. Seen here:
// WebGPU (SwiftShader) vs CPU at most 1 level, mean 0.001; browser CPU vs native CPU identical.
const MAX_LEVEL_DIFFERENCE = 3;
const MAX_MEAN_DIFFERENCE = 0.05;

/** Generates `request` through the form; the designs as decoded RGBA pixels. */
export async function generate(page, request) {
  await submit(page, request);
  return page.evaluate(() => Promise.all([...document.querySelectorAll('#results figure img')]
    .map(async (img) => { await img.decode(); return pixelsOf(img); })));
}

/** Decodes a base64 PNG in the page (the CLI's output) into the same shape. */
export function decodePng(page, base64) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    return pixelsOf(img);
  }, base64);
}

/** Installs `pixelsOf` in the page. */
export async function installDecoder(page) {
  await page.evaluate(() => {
    window.pixelsOf = (img) => {
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const context = canvas.getContext('2d');
      context.drawImage(img, 0, 0);
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      return { width: canvas.width, height: canvas.height, pixels: Array.from(data) };
    };
  });
}

function difference(a, b) {
  assert.equal(a.pixels.length, b.pixels.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.pixels.length; i++) {
    const d = Math.abs(a.pixels[i] - b.pixels[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.pixels.length };
}

export function assertClose(a, b, what) {
  const { max, mean } = difference(a, b);
  console.log(`${what}: largest pixel difference ${max} levels, mean ${mean.toFixed(3)}`);
  assert.ok(max <= MAX_LEVEL_DIFFERENCE && mean <= MAX_MEAN_DIFFERENCE,
    `${what}: largest difference ${max} (bound ${MAX_LEVEL_DIFFERENCE}), mean ${mean} (bound ${MAX_MEAN_DIFFERENCE})`);
}
