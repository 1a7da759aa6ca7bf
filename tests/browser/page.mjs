// A person using examples/copilotkit in headless Chromium: the CopilotKit page,
// its runtime and graphwire's demo agent, all real.
// Usage: node page.mjs <appUrl> <screenshotDir>. Prints one JSON object: what
// each step showed, or the step that failed and why (screenshots in the dir).
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const [appUrl, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const WAIT = 30_000;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const consoleErrors = [];
page.on("console", (m) => m.type() === "error" && consoleErrors.push(`${m.text()} ${m.location().url}`));
page.on("pageerror", (e) => consoleErrors.push(String(e)));

const seen = {};
let step = "open";

// Type and send; the send button is enabled once the chat is connected to its
// agent, and the input empties when the message has gone.
async function say(text) {
  const input = page.getByTestId("copilot-chat-textarea");
  await input.fill(text);
  await page.getByTestId("copilot-send-button").click({ timeout: WAIT });
  await page.waitForFunction(
    () => document.querySelector('[data-testid="copilot-chat-textarea"]').value === "",
    null,
    { timeout: WAIT },
  );
}

const chat = () => page.getByTestId("copilot-chat");
const visible = (locator) => locator.first().waitFor({ state: "visible", timeout: WAIT });
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

async function reply(text) {
  await visible(chat().getByText(text));
  return true;
}

const steps = {
  async open() {
    await page.goto(appUrl, { waitUntil: "networkidle" });
    await visible(page.getByTestId("copilot-chat-textarea"));
  },
  async hello() {
    await say("hello");
    seen.hello = await reply("You said: hello.");
  },
  async weather() {
    await say("weather in Paris");
    await visible(page.getByTestId("weather-card").filter({ hasText: "it is sunny in Paris" }));
    seen.weatherCard = await page.getByTestId("weather-card").last().innerText();
    seen.weatherReply = await reply("Done: it is sunny in Paris.");
    // The reasoning the demo model streams shows in the chat.
    seen.reasoning = await chat().innerText();
  },
  async deploy() {
    await say("deploy to staging");
    const approval = page.getByTestId("approval").filter({ hasText: "Deploy to staging?" });
    await visible(approval);
    seen.approval = await approval.first().innerText();
    await approval.first().getByRole("button", { name: "Approve", exact: true }).click();
    seen.deployReply = await reply("Done: deployed to staging.");
  },
  async background() {
    await say("deploy to staging in the background");
    const card = page.getByTestId("task-card");
    await visible(card);
    seen.taskTitle = await card.first().innerText();
    await visible(page.locator('[data-testid="task-card"][data-state="review_needed"]'));
    await page.getByRole("button", { name: "Approve task" }).first().click();
    await visible(page.locator('[data-testid="task-card"][data-state="done"]'));
    seen.taskDone = await card.first().innerText();
  },
  async state() {
    seen.state = JSON.parse(await page.getByTestId("state").innerText());
  },
};

let error = null;
try {
  for (const [name, run] of Object.entries(steps)) {
    step = name;
    await run();
    await shot(name);
  }
  step = null;
} catch (e) {
  error = String(e && e.message ? e.message : e);
  await shot(`failed-${step}`).catch(() => {});
} finally {
  await browser.close();
}
console.log(JSON.stringify({ failedStep: step, error, seen, consoleErrors: [...new Set(consoleErrors)] }));
