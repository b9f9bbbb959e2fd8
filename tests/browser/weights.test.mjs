// A model served beside the site (config.json's `weights`) instead of the built-in one: its
// download cut off half-way shows a clear message and a retry and caches nothing; the retry
// downloads it whole, the page then offers that model's size and generates at it; a second
// visit starts from the Cache API without asking the server.
//
// Run by `make test` (node --test tests/browser/); needs `make web`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { root, serveSite, launch, submit } from './support.mjs';

// The committed 128 px model: another model than the built-in 64 px one, so the page shows
// which it runs.
const weights = readFileSync(join(root, 'core/weights/scenes-128.weights'));

let requests = 0;
let server;
let site;
let url;
before(async () => {
  // The first request is cut off half-way, as a dropped connection would; later ones are whole.
  server = createServer((request, response) => {
    requests += 1;
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': weights.length,
      'access-control-allow-origin': '*',
    });
    if (requests === 1) {
      response.write(weights.subarray(0, weights.length >> 1), () => response.destroy());
    } else {
      response.end(weights);
    }
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${server.address().port}/models/designer-scenes-128.weights`;
  site = await serveSite({ weights: url });
});
after(() => {
  site?.close();
  server?.close();
});

const cached = (page, key) => page.evaluate(async (k) => {
  const hit = await (await caches.open('designer-weights-v1')).match(k);
  return hit ? (await hit.arrayBuffer()).byteLength : null;
}, key);

test('downloads the model beside the site once, says so when the download fails, and starts from the cache next time', async () => {
  const { browser, page } = await launch(site.base, { webgpu: false });
  try {
    await page.waitForSelector('#retry:not([hidden])', { timeout: 120_000 });
    const message = await page.textContent('#error');
    assert.match(message, /Could not download the model/);
    assert.ok(message.includes(url), message);
    assert.equal(await cached(page, url), null, 'a cut-off download must leave nothing in the cache');
    assert.equal(await page.isDisabled('#generate'), true);

    await page.click('#retry');
    await page.waitForSelector('body[data-backend]', { timeout: 120_000 });
    assert.equal(await page.getAttribute('body', 'data-weights'), 'download');
    assert.match(await page.textContent('#status'), /designer-scenes-128@.*\(downloaded\)/);
    assert.equal(await page.isHidden('#error'), true);
    assert.equal(await cached(page, url), weights.length);
    // Only the labels this model knows are offered (6 room types and 8 styles, of the 9 and 16
    // the build knows).
    assert.equal(await page.locator('#room_type option').count(), 6);
    assert.deepEqual(await page.$$eval('#style option', (options) => options.map((o) => o.value)),
      ['modern', 'minimalist', 'scandinavian', 'industrial', 'bohemian', 'mid_century', 'coastal', 'rustic']);
    // The model's own size is offered, and chosen by default.
    const sizes = await page.$$eval('#size option', (options) => options.map((o) => [o.value, o.selected]));
    assert.deepEqual(sizes, [['32', false], ['64', false], ['128', true]]);
    await submit(page, { room_type: 'bedroom', style: 'coastal', variations: 1, seed: 3, steps: 2, size: 128 });
    const widths = await page.$$eval('#results figure img', (imgs) => imgs.map((img) => img.naturalWidth));
    assert.deepEqual(widths, [128]);
    assert.equal(requests, 2);

    await page.reload();
    await page.waitForSelector('body[data-backend]', { timeout: 120_000 });
    assert.equal(await page.getAttribute('body', 'data-weights'), 'cache');
    assert.match(await page.textContent('#status'), /designer-scenes-128@.*cache/);
    assert.equal(requests, 2, 'the second visit must not download the model again');
  } finally {
    await browser.close();
  }
});
