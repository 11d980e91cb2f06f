import { act, cleanup, render } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { LiveRate } from "./Board";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("LiveRate", () => {
  it("falls while nothing finishes, without news from the stream", () => {
    const { container, rerender } = render(<LiveRate completed={10} />);
    expect(container.textContent).toBe("– items/s");
    act(() => vi.advanceTimersByTime(1000));
    rerender(<LiveRate completed={20} />);
    expect(container.textContent).toBe("10.0 items/s");
    // The run stalls: no new count, yet the rate is drawn again and falls.
    act(() => vi.advanceTimersByTime(1000));
    expect(container.textContent).toBe("5.0 items/s");
    act(() => vi.advanceTimersByTime(3000));
    expect(container.textContent).toBe("2.0 items/s");
  });
});
