// Just the part of autocannon's API the benches use (the package ships no types).
declare module 'autocannon' {
  namespace autocannon {
    interface Histogram { average: number; p50: number; p90: number; p99: number; max: number }
    interface Result { requests: Histogram; latency: Histogram; non2xx: number; errors: number; timeouts: number }
    interface Options {
      url: string; connections?: number; duration?: number; amount?: number; workers?: number; pipelining?: number;
      method?: string; headers?: Record<string, string>; body?: string;
    }
  }
  function autocannon(opts: autocannon.Options, cb: (err: Error | null, res: autocannon.Result) => void): unknown;
  export = autocannon;
}
