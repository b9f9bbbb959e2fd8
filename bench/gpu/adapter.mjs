// Which WebGPU adapter headless Chromium gives the site under each set of extra flags named on
// the command line (one argument per set, '' for none): one line per set, `FLAGS => adapter`.
// bench/gpu/browser.sh measures with the first set that gives a real GPU.
//
//   CHROMIUM=... node bench/gpu/adapter.mjs '' '--enable-features=Vulkan --use-angle=vulkan'

import { serveSite, launch } from '../../tests/browser/support.mjs';

const site = await serveSite();
try {
  for (const flags of process.argv.slice(2)) {
    process.env.CHROMIUM_WEBGPU_FLAGS = flags;
    let adapter;
    let browser;
    try {
      ({ browser } = await launch('about:blank', { webgpu: true }));
      const page = await browser.newPage();
      await page.goto(site.base);
      adapter = await page.evaluate(async () => {
        const found = await navigator.gpu?.requestAdapter();
        if (!found) return 'no adapter';
        const { info } = found;
        return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ');
      });
    } catch (error) {
      adapter = `failed: ${error.message.split('\n')[0]}`;
    } finally {
      await browser?.close();
    }
    console.log(`${flags || '(none)'} => ${adapter}`);
  }
} finally {
  site.close();
}
