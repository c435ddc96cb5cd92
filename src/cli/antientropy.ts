// `converge diff`, `converge repair`, `converge ae pause|resume` (the anti-entropy issue fills them in).

import type { Command } from 'commander';

export function registerAntiEntropyCommands(_program: Command): void {}
