// Why a relay's push ended, in a sentence for callback 401's ErrorMsg, naming the step of the RTMP session the server
// refused. The engine's push (engine-push.ts) reports its steps and errors itself (at, failed). For ffmpeg's (rtmps://),
// ffmpeg's own error line rarely says:
// a server without the URL's application (nginx-rtmp, SRS) or one refusing a stream key just closes the connection,
// and ffmpeg reports "Input/output error". So the push runs ffmpeg with `-loglevel level+debug`, which tags every
// line with its level and logs each step of the RTMP session (TCP connect, handshake, connect to the application,
// publish) once, at the start; this follows those steps, so the reason can name the step the server refused.
// Once the push runs, ffmpeg logs nothing more per packet at that level.

export type Step = 'starting' | 'tcp' | 'handshake' | 'connect' | 'publish' | 'running';

/** `[ctx @ 0x…] [level] message` or `[level] message`, as `-loglevel level+…` writes them. */
const LINE = /^(?:\[[^\]]*? @ 0x[0-9a-f]+\] )?\[(\w+)\] (.*)$/;

export class PushDiagnosis {
  private step: Step = 'starting';
  private app = '';
  private serverError = '';
  private lastError = '';

  /** `url` is left out of quoted error lines (ffmpeg starts them with the URL, which holds the stream key). */
  constructor(private readonly url: string) {}

  /** One line of ffmpeg's stderr. */
  line(raw: string): void {
    const m = LINE.exec(raw.trim());
    if (!m) return;
    const [, level, text] = m as unknown as [string, string, string];
    if (level === 'error' || level === 'fatal' || level === 'panic') {
      const server = /^Server error: (.*)$/.exec(text);
      if (server) this.serverError = server[1]!.trim();
      else this.lastError = `ffmpeg: ${this.withoutUrl(text).slice(0, 300)}`;
      return;
    }
    if (this.step === 'running') return;
    if (text.startsWith('Starting connection attempt')) this.step = 'tcp';
    else if (text.startsWith('Successfully connected')) this.step = 'handshake';
    else if (text.startsWith('Proto = ')) {
      this.step = 'connect';
      this.app = /app = ([^,]*)/.exec(text)?.[1] ?? '';
    } else if (/^(Releasing stream|FCPublish stream|Creating stream|Sending publish command)/.test(text)) this.step = 'publish';
  }

  /** A step of the session begins (the engine's push; ffmpeg's are read from its log). */
  at(step: Step, app?: string): void {
    this.step = step;
    if (app !== undefined) this.app = app;
  }

  /** The engine's push: why the step failed, in the server's words or the socket's. */
  failed(text: string): void {
    this.lastError = this.withoutUrl(text).slice(0, 300);
  }

  /** The push is delivering: a later end is a drop, not a refusal. */
  running(): void {
    this.step = 'running';
  }

  /** The sentence for an attempt or a session that ended (`exit`: ffmpeg's exit code or signal). */
  reason(exit = ''): string {
    const said = this.serverError ? `the server said: ${this.serverError}` : this.lastError || `ffmpeg exited (${exit})`;
    const app = this.app ? `application '${this.app}'` : 'the application';
    switch (this.step) {
      case 'starting':
      case 'tcp':
        return `could not connect to the server (${said})`;
      case 'handshake':
        return `the server took the TCP connection but the RTMP handshake failed: is it an RTMP server, and rtmps:// for a TLS port? (${said})`;
      case 'connect':
        return `the server refused the connection to ${app}: it has no such application, or does not let this client in (${said})`;
      case 'publish':
        return `the server accepted ${app} but refused to let the stream be published: a wrong or expired stream key, or the stream is already being published (${said})`;
      case 'running':
        return `the server ended the session while the stream was flowing (${said})`;
    }
  }

  /** "URL: error" becomes "error", "… file URL: error" "… file the push URL: error". */
  private withoutUrl(text: string): string {
    const rest = text.startsWith(`${this.url}: `) ? text.slice(this.url.length + 2) : text;
    return rest.split(this.url).join('the push URL');
  }
}
