// Records of the store's kinds as tests write them, the same for every store kind's contract test.

import type { OutboxEntry, TaskRecord } from '../../src/store/store.js';

export function entry(id: string, partition: string): OutboxEntry {
  return {
    id, partition, sdkAppId: 1400000001, url: 'http://127.0.0.1:9/cb', body: `{"id":"${id}"}`, sign: 's', label: '103 user-entered',
    createdAt: 1000, attempts: 0, firstTryAt: null, nextTryAt: 1000,
  };
}

export function task(taskId: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId, sdkAppId: 1400000001, roomId: 'r', roomIdType: 0, userId: 'u', streamUrl: 'http://127.0.0.1/a.flv', state: 'running', createdAt: 1, ...extra,
  };
}
