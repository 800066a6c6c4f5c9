import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): unknown;
}

// The proto JSON conversion runs on the protobufjs copy the history type was built with. @temporalio/common's
// historyToJSON/historyFromJSON (which Worker.runReplayHistories calls on a history whose event ids are strings)
// take the copy installed beside @temporalio/common; npm installs a second one beside @temporalio/proto whenever the
// top-level slot holds another major (here @grpc/proto-loader's protobufjs 7), and each copy refuses the other's
// types ("type must be a Type"). Resolving from @temporalio/proto always finds the right one.
const requireHere = createRequire(__filename);
const protoRoot = requireHere('@temporalio/proto') as { lookupType(name: string): unknown };
const protojson = createRequire(requireHere.resolve('@temporalio/proto'))('protobufjs/ext/protojson') as ProtoJson;
const historyType = protoRoot.lookupType('temporal.api.history.v1.History');

/** The proto JSON form of a history: what `temporal workflow show --output json` prints and the Temporal UI downloads. */
export function historyToJson(history: History): unknown {
  return protojson.toJson(historyType, temporal.api.history.v1.History.fromObject(history));
}

/** A history decoded from its proto JSON form, ready for `Worker.runReplayHistories`. */
export function historyFromJson(json: unknown): History {
  return protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as History;
}

/** test/replay/histories/<workflowType>/<label>/<scenario>.json: what the recorder writes and the replay test reads. */
export const HISTORIES_DIR = path.resolve(__dirname, 'histories');

/**
 * One recorded workflow run. The history is the proto JSON form (`historyToJSON`, as `temporal workflow show
 * --output json` prints it); the workflow id is kept beside it because replay needs the original one (the
 * cancellation fan-out derives its branches' ids from its own).
 */
export interface RecordedHistory {
  workflowType: string;
  workflowId: string;
  runId: string;
  /** The run's status when it was recorded: a running one is what a deploy meets. */
  status: 'RUNNING' | 'COMPLETED' | 'CONTINUED_AS_NEW';
  description: string;
  history: { events: unknown[] };
}

export interface HistoryFile {
  /** Relative to HISTORIES_DIR. */
  file: string;
  /** The directory it sits in: the workflow type it must be a history of. */
  workflowType: string;
  /** The version of the code that wrote it. */
  label: string;
  recorded: RecordedHistory;
}

/** Every committed history, sorted by path. */
export function loadHistories(root = HISTORIES_DIR): HistoryFile[] {
  const found: HistoryFile[] = [];
  for (const workflowType of safeList(root)) {
    for (const label of safeList(path.join(root, workflowType))) {
      for (const name of safeList(path.join(root, workflowType, label)).filter((n) => n.endsWith('.json'))) {
        const file = path.join(workflowType, label, name);
        found.push({ file, workflowType, label, recorded: JSON.parse(readFileSync(path.join(root, file), 'utf8')) as RecordedHistory });
      }
    }
  }
  return found.sort((a, b) => a.file.localeCompare(b.file));
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() || e.name.endsWith('.json'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}
