// What pull tasks report about themselves: 701 (Status 0 started, 1 failed to start, 2 retrying) and 702 (Status 0
// stopped). Only src/events turns them into callbacks; tasks neither know nor wait for who listens.

export type IngestEventType = 701 | 702;

export interface IngestEventSink {
  /** `roomId` is the task's room: its events are delivered in order with that room's events. */
  ingest(sdkAppId: number, roomId: string, eventType: IngestEventType, taskId: string, status: number, at?: number): void;
}

export const noIngestEvents: IngestEventSink = { ingest: () => {} };
