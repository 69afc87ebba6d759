import cliProgress from 'cli-progress';

/** Where downloads report what they are doing. The builder passes one sink to every fetch. */
export interface ProgressSink {
  /** A download begins; `totalBytes` is undefined when the server does not say. */
  start(name: string, totalBytes?: number): DownloadProgress;
  /** Something worth telling the user that is not (yet) an error, e.g. a retry. */
  note(message: string): void;
  /** Ends the display; call once when all fetching is over. */
  stop(): void;
}

export interface DownloadProgress {
  tick(bytes: number): void;
  done(): void;
  fail(): void;
}

/**
 * Progress bars on an interactive terminal; on CI and in logs, one line per finished download,
 * since redrawn bars would only fill the log with escape codes. `quiet` silences everything.
 */
export function createProgress(opts: { stream?: NodeJS.WriteStream; quiet?: boolean } = {}): ProgressSink {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return silentProgress;
  if (stream.isTTY && !process.env.CI) return barProgress(stream);
  return lineProgress(stream);
}

const silentProgress: ProgressSink = {
  start: () => ({ tick() {}, done() {}, fail() {} }),
  note() {},
  stop() {},
};

function lineProgress(stream: NodeJS.WritableStream): ProgressSink {
  return {
    start(name) {
      let received = 0;
      return {
        tick(bytes) {
          received += bytes;
        },
        done: () => stream.write(`fetched ${name} (${formatBytes(received)})\n`),
        fail() {},
      };
    },
    note: (message) => stream.write(`${message}\n`),
    stop() {},
  };
}

function barProgress(stream: NodeJS.WriteStream): ProgressSink {
  let bars: cliProgress.MultiBar | undefined;
  // Created on first use so that a build served entirely from the cache prints nothing.
  // gracefulExit would install SIGINT/SIGTERM handlers that stop the bars but keep the process alive.
  const multiBar = () => (bars ??= new cliProgress.MultiBar({ stream, format: renderBar, barsize: 30, gracefulExit: false }));
  return {
    start(name, totalBytes) {
      const bar = multiBar().create(totalBytes ?? 0, 0, { name });
      let received = 0;
      return {
        tick(bytes) {
          received += bytes;
          bar.update(received);
        },
        // Without a Content-Length the total is only known now; set it so the bar shows complete.
        done: () => bar.setTotal(received),
        fail: () => multiBar().remove(bar),
      };
    },
    note: (message) => (bars ? bars.log(`${message}\n`) : stream.write(`${message}\n`)),
    stop() {
      bars?.stop();
      bars = undefined;
    },
  };
}

const renderBar: cliProgress.GenericFormatter = (options, params, payload: { name: string }) => {
  const name = payload.name.padEnd(24);
  if (params.total <= 0) return `${name} ${formatBytes(params.value)}`;
  return `${name} ${cliProgress.Format.BarFormat(params.progress, options)} ${formatBytes(params.value)} / ${formatBytes(params.total)}`;
};

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
