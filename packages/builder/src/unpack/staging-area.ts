import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, rename, rm, rmdir, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parentComponents } from './archive-paths.js';
import { type ArchiveContext, ExtractError } from './errors.js';
import type { UnpackedFile } from './index.js';

/** A path in the image and a description of who writes it, for conflict messages. */
export interface Target {
  imagePath: string;
  owner: string;
}

interface StagedItem extends UnpackedFile {
  owner: string;
}

/**
 * Everything one unpack writes goes to a private scratch directory inside the stage directory
 * first, and is moved into place only once the whole archive has been accepted. A refused or
 * broken archive therefore leaves the stage exactly as it was. Also enforces the byte budget
 * and keeps destinations from colliding (two rules writing one path, or a file below a symlink).
 */
export class StagingArea {
  private readonly items = new Map<string, StagedItem>();
  /** Image directories implied by staged paths, with the first path that needed each. */
  private readonly directories = new Map<string, string>();
  private bytesWritten = 0;

  private constructor(
    private readonly stageDir: string,
    private readonly scratchDir: string,
    private readonly context: ArchiveContext,
    private readonly maxBytes: number,
  ) {}

  static async open(stageDir: string, context: ArchiveContext, maxBytes: number): Promise<StagingArea> {
    await mkdir(stageDir, { recursive: true });
    // Inside stageDir so that the final rename never crosses file systems.
    const scratchDir = await mkdtemp(path.join(stageDir, `.unpack-${context.input}-`));
    return new StagingArea(stageDir, scratchDir, context, maxBytes);
  }

  async writeFile(target: Target, content: Readable, mode: number): Promise<void> {
    const file = await this.reserve(target);
    let size = 0;
    const charge = (bytes: number) => {
      size += bytes;
      this.bytesWritten += bytes;
      if (this.bytesWritten > this.maxBytes)
        throw new ExtractError(
          this.context,
          `writing ${target.imagePath} for ${target.owner} goes over the limit of ${this.maxBytes} bytes unpacked from ${this.context.archive}; is it a compression bomb? ` +
            'If the archive is genuine, raise the limit with --max-unpacked-size BYTES (or BAKEHOUSE_MAX_UNPACKED_SIZE).',
        );
    };
    await pipeline(
      content,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          charge(chunk.length);
          yield chunk;
        }
      },
      createWriteStream(file, { flags: 'wx', mode: 0o600 }),
    );
    await chmod(file, mode);
    this.items.set(target.imagePath, { path: target.imagePath, type: 'file', mode, size, owner: target.owner });
  }

  /** Stages another copy of a file already staged at `source` (hard links and entries mapped twice). */
  async copyFile(source: string, target: Target, mode: number): Promise<void> {
    await this.writeFile(target, createReadStream(this.scratchPath(source)), mode);
  }

  async writeSymlink(target: Target, linkTarget: string): Promise<void> {
    await symlink(linkTarget, await this.reserve(target));
    this.items.set(target.imagePath, {
      path: target.imagePath,
      type: 'symlink',
      mode: 0o777,
      size: Buffer.byteLength(linkTarget),
      owner: target.owner,
    });
  }

  /** Moves everything staged into the stage directory; on failure, takes back what it moved. */
  async commit(): Promise<UnpackedFile[]> {
    const items = [...this.items.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
    for (const item of items) await this.checkFree(item);

    const moved: string[] = [];
    const createdDirectories: string[] = [];
    try {
      for (const item of items) {
        await this.makeParents(item, createdDirectories);
        const destination = path.join(this.stageDir, item.path);
        await rename(this.scratchPath(item.path), destination);
        moved.push(destination);
      }
    } catch (error) {
      for (const file of moved.reverse()) await unlink(file).catch(() => undefined);
      // rmdir, not rm -r: a directory someone else filled meanwhile must survive.
      for (const directory of createdDirectories.reverse()) await rmdir(directory).catch(() => undefined);
      throw error;
    }
    return items.map(({ path: imagePath, type, mode, size }) => ({ path: imagePath, type, mode, size }));
  }

  async discard(): Promise<void> {
    await rm(this.scratchDir, { recursive: true, force: true });
  }

  private async reserve({ imagePath, owner }: Target): Promise<string> {
    // Rules and the schema only produce normalised absolute paths; this keeps path.join from leaving the stage if not.
    if (!imagePath.startsWith('/') || path.posix.normalize(imagePath) !== imagePath || imagePath.endsWith('/'))
      throw new ExtractError(this.context, `${owner} maps to "${imagePath}", which is not a normalised absolute file path`);

    const previous = this.items.get(imagePath);
    if (previous) throw new ExtractError(this.context, `${imagePath} would be written by both ${previous.owner} and ${owner}`);
    const needsDirectory = this.directories.get(imagePath);
    if (needsDirectory) throw new ExtractError(this.context, `${owner} writes ${imagePath}, but ${needsDirectory} needs it to be a directory`);

    let ancestor = '';
    for (const component of parentComponents(imagePath)) {
      ancestor += `/${component}`;
      const item = this.items.get(ancestor);
      if (item) throw new ExtractError(this.context, `${owner} writes ${imagePath}, below ${ancestor}, which ${item.owner} writes as a ${item.type}`);
      if (!this.directories.has(ancestor)) this.directories.set(ancestor, owner);
    }

    const file = this.scratchPath(imagePath);
    await mkdir(path.dirname(file), { recursive: true });
    return file;
  }

  /** Refuses to overwrite anything in the stage, or to write through a symlink or file already there. */
  private async checkFree(item: StagedItem): Promise<void> {
    const components = item.path.split('/').filter((component) => component !== '');
    for (let depth = 1; depth <= components.length; depth++) {
      const imagePath = `/${components.slice(0, depth).join('/')}`;
      const stat = await lstat(path.join(this.stageDir, imagePath)).catch(ifMissing(undefined));
      if (!stat) return;
      if (depth === components.length)
        throw new ExtractError(this.context, `${item.path} is already in the stage directory; ${item.owner} would overwrite it`);
      if (!stat.isDirectory())
        throw new ExtractError(this.context, `cannot write ${item.path} for ${item.owner}: ${imagePath} in the stage directory is not a directory`);
    }
  }

  private async makeParents(item: StagedItem, created: string[]): Promise<void> {
    let directory = this.stageDir;
    for (const component of parentComponents(item.path)) {
      directory = path.join(directory, component);
      const made = await mkdir(directory, { mode: 0o755 }).then(() => true, ifExists(false));
      if (made) created.push(directory);
      // Re-checked here because another unpack into the same stage may have run since checkFree.
      else if (!(await lstat(directory)).isDirectory())
        throw new ExtractError(this.context, `cannot write ${item.path} for ${item.owner}: ${directory} is not a directory`);
    }
  }

  private scratchPath(imagePath: string): string {
    return path.join(this.scratchDir, imagePath);
  }
}

function ifMissing<T>(value: T) {
  return (error: NodeJS.ErrnoException): T => {
    if (error.code === 'ENOENT') return value;
    throw error;
  };
}

function ifExists<T>(value: T) {
  return (error: NodeJS.ErrnoException): T => {
    if (error.code === 'EEXIST') return value;
    throw error;
  };
}
