// Tencent Cloud API 3.0 answers: always HTTP 200 with {"Response":{…,"RequestId"}} — the official SDKs read error
// codes only from 200 responses — and errors as {"Response":{"Error":{"Code","Message"},"RequestId"}}.

import type { FastifyReply } from 'fastify';

/** An API 3.0 error: the code clients branch on and a message that says what to fix. */
export class Api3Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function sendApi3(reply: FastifyReply, requestId: string, fields: Record<string, unknown>): FastifyReply {
  return reply
    .code(200)
    .header('content-type', 'application/json')
    .send(JSON.stringify({ Response: { ...fields, RequestId: requestId } }));
}

export function sendApi3Error(reply: FastifyReply, requestId: string, code: string, message: string): FastifyReply {
  return sendApi3(reply, requestId, { Error: { Code: code, Message: message } });
}
