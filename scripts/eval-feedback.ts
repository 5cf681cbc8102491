/** The feedback loop replay (training/feedback-eval.ts has the protocol and the flags). */
import { DataFormatError } from '../training/data.js';
import { UsageError } from '../training/cli.js';
import { main } from '../training/feedback-eval.js';

main().catch((e) => {
  if (e instanceof UsageError || e instanceof DataFormatError) { console.error(`error: ${e.message}`); process.exit(2); }
  console.error(e);
  process.exit(1);
});
