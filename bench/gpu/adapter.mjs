// Which WebGPU adapter headless Chromium gives the site under each set of extra flags named on
// the command line (one argument per set, '' for none): one line per set, `FLAGS => adapter`.
// bench/gpu/browser.sh measures with the first set that gives a real GPU.
//
//   CHROMIUM=... node bench/gpu/adapter.mjs '' '--enable-features=Vulkan --use-angle=vulkan'

import { serveSite, launch, webgpuAdapter } from '../../tests/browser/support.mjs';

const site = await serveSite();
try {
  for (const flags of process.argv.slice(2)) {
    process.env.CHROMIUM_WEBGPU_FLAGS = flags;
    let adapter;
    let browser;
    try {
      let page;
      ({ browser, page } = await launch(site.base, { webgpu: true }));
      adapter = await webgpuAdapter(page);
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
