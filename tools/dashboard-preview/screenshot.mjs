// Opens the preview page in headless Chromium (the system's, via puppeteer-core: nothing is
// downloaded), waits until every panel has drawn, and saves a full-page PNG.
//
//   node screenshot.mjs [http://127.0.0.1:18080/] [../../docs/dashboard.png]
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const url = process.argv[2] ?? "http://127.0.0.1:18080/";
const out = path.resolve(process.argv[3] ?? path.join(here, "../../docs/dashboard.png"));
const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "preview-chromium-"));

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", `--user-data-dir=${profile}`, "--font-render-hinting=none",
  ],
  env: { ...process.env, TZ: "UTC" },
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1600, height: 1200, deviceScaleFactor: 1 });
  page.on("console", (m) => console.log(`page: ${m.text()}`));
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: "networkidle0", timeout: 120000 });
  await page.waitForFunction("window.__rendered === true", { timeout: 120000 });
  const errors = await page.evaluate("window.__errors ?? []");
  for (const e of errors) console.error(`panel error: ${e}`);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}${errors.length ? ` (${errors.length} panel errors)` : ""}`);
  process.exitCode = errors.length ? 1 : 0;
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
