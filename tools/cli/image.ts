import type { Command } from 'commander';
import { ensureTinyImage, tinyImagePath } from '../image/tiny.js';
import { configFrom } from './context.js';

export function imageCommands(program: Command): void {
  const image = program.command('image').description('guest images');
  image
    .command('build-tiny')
    .description(
      'build the tiny test guest (Debian kernel + busybox, ~13 MiB qcow2) unless it is already there',
    )
    .option('--out <file>', 'where to write it (default: ${DEFAULT.data_dir}/images/tiny.qcow2)')
    .option('--force', 'rebuild even if the image exists')
    .action(async (opts: { out?: string; force?: boolean }, cmd: Command) => {
      const out = opts.out ?? tinyImagePath(configFrom(cmd.optsWithGlobals()).DEFAULT.data_dir);
      const img = await ensureTinyImage({ out, force: opts.force, onLine: (l) => console.log(l) });
      console.log(
        img.built
          ? `built ${img.path} in ${img.seconds.toFixed(1)} s`
          : `${img.path} exists (--force rebuilds it)`,
      );
    });
}
