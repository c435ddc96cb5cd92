// Reads the sources with the TypeScript compiler API for the tidy checks: every function with its length in
// lines and a stable name, and every use of a global identifier. Parsing, not regexes: comments, strings and
// property names (`x.process`) never count.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export const root = new URL('../..', import.meta.url).pathname;

/** Source files under `dir` (relative to the repo root), test files excluded unless asked for. */
export function sourceFiles(dir: string, withTests = false): string[] {
  const out: string[] = [];
  const stack = [join(root, dir)];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) stack.push(p);
      else if (
        /\.(ts|mts)$/.test(name) &&
        !name.endsWith('.d.ts') &&
        (withTests || !name.endsWith('.test.ts'))
      )
        out.push(p);
    }
  }
  return out.sort().map((p) => relative(root, p));
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.ES2022, true);
}

export interface FunctionSpan {
  /** `file#Outer.inner`: stable across edits that move code, unlike a line number. */
  readonly name: string;
  readonly lines: number;
  readonly line: number;
}

function ownName(node: ts.Node): string | undefined {
  if (
    (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isFunctionExpression(node)) &&
    node.name
  ) {
    return node.name.getText();
  }
  if (ts.isGetAccessor(node) || ts.isSetAccessor(node))
    return `${ts.isGetAccessor(node) ? 'get' : 'set'} ${node.name.getText()}`;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (ts.isClassDeclaration(node) && node.name) return node.name.text;
  const parent = node.parent;
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
    if (
      ts.isVariableDeclaration(parent) ||
      ts.isPropertyAssignment(parent) ||
      ts.isPropertyDeclaration(parent)
    ) {
      return parent.name.getText();
    }
    if (ts.isCallExpression(parent)) {
      const callee = parent.expression.getText().split('.').pop();
      return `${callee}(…)`;
    }
    return '<arrow>';
  }
  return undefined;
}

const isFunctionLike = (n: ts.Node): boolean =>
  ts.isFunctionDeclaration(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isArrowFunction(n) ||
  ts.isFunctionExpression(n) ||
  ts.isConstructorDeclaration(n) ||
  ts.isGetAccessor(n) ||
  ts.isSetAccessor(n);

/** Every function of a file with its length; nested functions count on their own and inside their parent. */
export function functionSpans(file: string): FunctionSpan[] {
  const source = parse(file);
  const out: FunctionSpan[] = [];
  const stack: Array<{ node: ts.Node; path: readonly string[] }> = [{ node: source, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    let here = path;
    const name = ownName(node);
    if (name !== undefined) here = [...path, name];
    if (isFunctionLike(node)) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ name: `${file}#${here.join('.')}`, lines: end - start + 1, line: start + 1 });
    }
    node.forEachChild((child) => {
      stack.push({ node: child, path: here });
    });
  }
  return out;
}

/** Uses of the given global names: identifiers that are not a property name, a declaration or a member. */
export function globalUses(file: string, names: ReadonlySet<string>): Array<{ name: string; line: number }> {
  const source = parse(file);
  const out: Array<{ name: string; line: number }> = [];
  const stack: ts.Node[] = [source];
  while (stack.length > 0) {
    const node = stack.pop()!;
    node.forEachChild((child) => {
      stack.push(child);
    });
    if (!ts.isIdentifier(node) || !names.has(node.text)) continue;
    const parent = node.parent;
    const isMemberName =
      (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
      (ts.isPropertyAssignment(parent) && parent.name === node) ||
      (ts.isPropertyDeclaration(parent) && parent.name === node) ||
      (ts.isMethodDeclaration(parent) && parent.name === node) ||
      (ts.isPropertySignature(parent) && parent.name === node) ||
      (ts.isQualifiedName(parent) && parent.right === node);
    if (isMemberName) continue;
    out.push({ name: node.text, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
  }
  return out;
}
