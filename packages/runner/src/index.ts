// The library: experiments, grids, jobs, comparisons and reports, stopped through AbortSignals and
// reporting through callbacks. The `moco-cxr` CLI (src/cli/) owns the process: signals, exit codes, printing.
export { runExperiment } from './experiment';
export { resolveConfig, loadConfig, readConfigFile, defaultConfig, mergeConfig, drawsFor, ConfigError } from './config';
export { planGrid, stages, runScheduled, jobCost, cellId, fractionTag, writeJobSpecs, readJobSpec, gridStatus } from './grid';
export { RunDir, writeJsonAtomic, isFinished, packageVersions, diffFields } from './rundir';
export { executeJob } from './jobs/execute';
export { protocolEpochs, drawRows } from './jobs/cell';
export { evaluateCheckpoint } from './jobs/evaluate';
export { prepareData } from './data';
export { inspectData } from './data-summary';
export { compareRuns, compareDirs, experimentComparisons, readScores } from './compare';
export { writeReport, comparisonMarkdown, comparisonText } from './report/report';
export { renderSvg, svgToPng, rasterise, aurocVsFractionSpec, rocSpec, pretrainSpec } from './report/figures';
export { demoConfig } from './demo';
export { Progress, formatSeconds } from './progress';
export { isAbortError } from './abort';
export { UsageError } from './errors';
// The CLI, for running a command line from code (it reads and writes the terminal only through `io`).
export { runCli } from './cli/main';
export { commands } from './cli/commands';
export { processIo } from './cli/terminal';
export type { ExperimentOptions, ExperimentEvent } from './experiment';
export type { RunnerConfig, ProtocolConfig, Initialisation, Protocol, BackendChoice } from './config';
export type { JobSpec, JobKind } from './grid';
export type { RunInfo } from './rundir';
export type { JobOutcome } from './jobs/execute';
export type { PreparedData, SplitData, SplitName } from './data';
export type { DataSummary } from './data-summary';
export type { ScoresFile, CompareOptions, ExperimentComparisons } from './compare';
export type { ReportData, ComparisonRow, Estimate, WrittenReport } from './report/report';
export type { AurocPoint, RocSeries, PretrainPoint, Figure } from './report/figures';
export type { CliResult } from './cli/main';
export type { Io } from './progress';
export type { Interrupt } from './abort';
export type { Command, CommandContext } from './cli/framework';
