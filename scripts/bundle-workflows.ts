// Writes the prebuilt workflow bundle next to the compiled worker, so production workers start without webpack.
import path from 'node:path';
import { bundleWorkflows } from '../worker/index.js';

const out = path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js');
bundleWorkflows(out)
  .then(() => console.log(`workflow bundle written to ${out}`))
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
