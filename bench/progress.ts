/**
 * Progress of one `npm run bench` over its sections, on stderr: a cli-progress bar on a terminal, one line per step
 * otherwise (CI logs). The ETA comes from the durations the previous report recorded per section, since a section's
 * own progress is not known in advance; a section never measured before is counted as unknown, not guessed.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';

/** Marker written after each section of BENCHMARKS.md, read back by the next run for its ETA. */
export function durationMarker(sectionId: string, seconds: number): string {
  return `<!-- bench-section ${sectionId} took ${Math.round(seconds)} s -->`;
}

/** Section id → seconds, from a previous report's markers (empty when there is none or it predates them). */
export function previousDurations(report: string | undefined): Map<string, number> {
  const durations = new Map<string, number>();
  for (const match of (report ?? '').matchAll(/<!-- bench-section (\S+) took (\d+) s -->/g)) durations.set(match[1]!, Number(match[2]));
  return durations;
}

export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** What is left of a run, from the estimates of the sections not finished yet. */
export function remainingEstimate(
  sections: readonly { readonly id: string }[],
  current: number,
  elapsedInCurrentSeconds: number,
  estimates: ReadonlyMap<string, number>,
): { readonly seconds: number; readonly unknown: number } {
  let seconds = 0;
  let unknown = 0;
  for (let k = current; k < sections.length; k++) {
    const estimate = estimates.get(sections[k]!.id);
    if (estimate === undefined) unknown++;
    else seconds += k === current ? Math.max(0, estimate - elapsedInCurrentSeconds) : estimate;
  }
  return { seconds, unknown };
}

function etaText(left: { readonly seconds: number; readonly unknown: number }): string {
  if (left.unknown > 0 && left.seconds === 0) return 'ETA unknown (no earlier timing)';
  return `ETA ~${formatSeconds(left.seconds)}${left.unknown > 0 ? ` + ${left.unknown} section(s) never timed` : ''}`;
}

export interface BenchProgress {
  /** A message from a section; printed without breaking the bar. */
  log(message: string): void;
  startSection(index: number): void;
  finish(): void;
}

export function benchProgress(
  sections: readonly { readonly id: string; readonly title: string }[],
  estimates: ReadonlyMap<string, number>,
  stream: NodeJS.WriteStream = process.stderr,
): BenchProgress {
  const startedAt = Date.now();
  let current = 0;
  let sectionStartedAt = startedAt;
  const left = (): ReturnType<typeof remainingEstimate> => remainingEstimate(sections, current, (Date.now() - sectionStartedAt) / 1000, estimates);

  if (!stream.isTTY) {
    return {
      log: (message) => stream.write(`[bench] ${message}\n`),
      startSection(index) {
        current = index;
        sectionStartedAt = Date.now();
        const section = sections[index]!;
        const last = estimates.get(section.id);
        stream.write(
          `[bench] section ${index + 1}/${sections.length} ${section.id}: ${section.title}` +
            ` (last run ${last === undefined ? 'unknown' : formatSeconds(last)}; elapsed ${formatSeconds((Date.now() - startedAt) / 1000)}, ${etaText(left())})\n`,
        );
      },
      finish: () => stream.write(`[bench] all ${sections.length} section(s) done in ${formatSeconds((Date.now() - startedAt) / 1000)}\n`),
    };
  }

  const multi = new MultiBar(
    { stream, format: ' {bar} {value}/{total} sections | {section} | elapsed {elapsedText} | {etaText}', hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  const bar: SingleBar = multi.create(sections.length, 0, { section: '', elapsedText: '0 s', etaText: '' });
  const refresh = (): void => {
    bar.update(current, { section: sections[current]?.id ?? 'done', elapsedText: formatSeconds((Date.now() - startedAt) / 1000), etaText: etaText(left()) });
  };
  const timer = setInterval(refresh, 1000);
  timer.unref();
  return {
    log: (message) => multi.log(`[bench] ${message}\n`),
    startSection(index) {
      current = index;
      sectionStartedAt = Date.now();
      refresh();
    },
    finish() {
      clearInterval(timer);
      current = sections.length;
      refresh();
      multi.stop();
    },
  };
}
