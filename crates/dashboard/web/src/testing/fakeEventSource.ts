// The browser's EventSource as far as the live hooks use it, driven by a test: it records the
// sources opened, and the test opens them and emits their events.
import { act } from "@testing-library/react";

export class FakeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static opened: FakeEventSource[] = [];
  readyState: number = FakeEventSource.CONNECTING;
  listeners = new Map<string, (message: MessageEvent<string>) => void>();
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeEventSource.opened.push(this);
  }
  addEventListener(name: string, listener: (message: MessageEvent<string>) => void) {
    this.listeners.set(name, listener);
  }
  close() {
    this.closed = true;
  }
  /** A failed connection: `closed` when the browser gives up (an HTTP error status), else it
   * is reconnecting (a network error). */
  fail(closed: boolean) {
    this.readyState = closed ? FakeEventSource.CLOSED : FakeEventSource.CONNECTING;
    act(() => this.onerror?.());
  }
  emit(name: string, data: unknown) {
    act(() => this.listeners.get(name)!({ data: JSON.stringify(data) } as MessageEvent<string>));
  }
}
