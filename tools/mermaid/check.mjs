// Parse Mermaid diagrams with Mermaid's own parser (mermaid.parse, as GitHub's renderer does).
// stdin: a JSON object {name: diagram text}; stdout: one line per diagram, "ok NAME TYPE" or
// "error NAME: message"; exit status 1 if any diagram does not parse.
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

let input = '';
for await (const chunk of process.stdin) input += chunk;
let failed = 0;
for (const [name, text] of Object.entries(JSON.parse(input))) {
  try {
    const parsed = await mermaid.parse(text);
    console.log(`ok ${name} ${parsed.diagramType}`);
  } catch (error) {
    failed += 1;
    console.log(`error ${name}: ${String(error.message || error).split('\n').slice(0, 4).join(' | ')}`);
  }
}
process.exit(failed ? 1 : 0);
