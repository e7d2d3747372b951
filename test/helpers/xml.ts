// A small XML well-formedness checker for the heap map tests: declaration, elements
// nested and closed in order, attributes quoted and unique, entities known, one root.
// Returns the elements (name, attributes, depth) in document order; throws on bad XML.
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  depth: number;
  text: string;
}

const NAME = /^[A-Za-z_][\w.:-]*$/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function checkText(text: string): string {
  if (/[<]/.test(text)) throw new Error(`stray '<' in text: ${text.slice(0, 40)}`);
  if (text.replace(ENTITY, '').includes('&')) throw new Error(`bad entity in: ${text.slice(0, 40)}`);
  return text;
}

export function parseXml(doc: string): XmlElement[] {
  let i = 0;
  if (doc.startsWith('<?xml')) {
    i = doc.indexOf('?>');
    if (i < 0) throw new Error('unterminated declaration');
    i += 2;
  }
  const stack: XmlElement[] = [];
  const out: XmlElement[] = [];
  let roots = 0;
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const text = lt < 0 ? doc.slice(i) : doc.slice(i, lt);
    checkText(text);
    if (stack.length > 0) stack[stack.length - 1]!.text += text;
    else if (text.trim() !== '') throw new Error('text outside the root element');
    if (lt < 0) break;
    const gt = doc.indexOf('>', lt);
    if (gt < 0) throw new Error('unterminated tag');
    const tag = doc.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const open = stack.pop();
      if (open === undefined || open.name !== tag.slice(1).trim()) throw new Error(`mismatched </${tag.slice(1)}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([^\s/>]+)([\s\S]*)$/.exec(body);
    if (m === null || !NAME.test(m[1]!)) throw new Error(`bad tag <${tag}>`);
    const attrs: Record<string, string> = {};
    let rest = m[2]!;
    const attr = /^\s+([A-Za-z_][\w.:-]*)="([^"<]*)"/;
    for (let a = attr.exec(rest); a !== null; a = attr.exec(rest)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      attrs[a[1]!] = checkText(a[2]!);
      rest = rest.slice(a[0].length);
    }
    if (rest.trim() !== '') throw new Error(`bad attributes in <${tag}>`);
    if (stack.length === 0 && ++roots > 1) throw new Error('more than one root element');
    const el = { name: m[1]!, attrs, depth: stack.length, text: '' };
    out.push(el);
    if (!selfClosing) stack.push(el);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (roots !== 1) throw new Error('no root element');
  return out;
}
