'use strict';
// Fault injection: latency, throttling (token bucket), random/deterministic errors, connection
// resets, requests never answered, truncated, malformed and oversized bodies, empty Organizations pages, listings that
// never end or end with an empty token, and a global clock skew.
const { rng } = require('./util');

const TYPES = ['latency', 'throttle', 'error', 'fail', 'reset', 'hang', 'truncate', 'malformed', 'empty_page', 'endless_pages',
  'blank_token', 'oversized'];

class Faults {
  constructor(state, config) {
    this.state = state;
    this.set(config || {});
  }

  set(config) {
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error('faults: config must be an object');
    const rules = config.rules || [];
    if (!Array.isArray(rules)) throw new Error('faults: rules must be an array');
    let n = 0;
    this.rules = rules.map((r) => {
      if (!TYPES.includes(r.type)) throw new Error(`faults: unknown rule type ${r.type} (expected one of ${TYPES.join(', ')})`);
      n += 1;
      const rule = Object.assign({}, r, { id: r.id || `rule-${n}`, matched: 0, applied: 0 });
      if (rule.duration_ms !== undefined) {
        if (!(rule.duration_ms > 0)) throw new Error('faults: duration_ms must be > 0');
        rule.expires = Date.now() + rule.duration_ms;
      }
      if (rule.type === 'oversized' && ['bytes', 'headers'].some((k) => rule[k] !== undefined &&
          !(Number.isInteger(rule[k]) && rule[k] > 0))) {
        throw new Error('faults: oversized needs bytes > 0 and headers > 0');
      }
      if (rule.type === 'throttle') {
        if (!(rule.rps > 0)) throw new Error('faults: throttle needs rps > 0');
        rule.burst = rule.burst || Math.max(1, rule.rps);
        rule.buckets = new Map();
      }
      return rule;
    });
    this.seed = config.seed ?? 1;
    this.random = rng(this.seed);
    this.clockSkewSeconds = Number(config.clock_skew_seconds || 0);
    this.state.skewMs = this.clockSkewSeconds * 1000;
  }

  toJSON() {
    return {
      seed: this.seed,
      clock_skew_seconds: this.clockSkewSeconds,
      rules: this.rules.map((r) => {
        const o = Object.assign({}, r);
        delete o.buckets;
        delete o.expires;
        return o;
      }),
    };
  }

  static matches(rule, ctx) {
    const one = (want, got) => want === undefined || want === null || want === '*' ||
      (Array.isArray(want) ? want.includes(got) : String(want) === String(got));
    return one(rule.service, ctx.service) && one(rule.action, ctx.action) && one(rule.account, ctx.account) &&
      one(rule.target_account, ctx.targetAccount) &&
      (rule.key_contains === undefined || String(ctx.key || '').includes(String(rule.key_contains)));
  }

  // Returns { latencyMs, fault } where fault is the first triggered non-latency rule (or null).
  evaluate(ctx) {
    let latencyMs = 0;
    let fault = null;
    const now = Date.now();
    for (const rule of this.rules) {
      if (!Faults.matches(rule, ctx)) continue;
      if (rule.expires !== undefined && now >= rule.expires) continue;
      if (rule.count !== undefined && rule.count !== null && rule.count <= 0) continue;
      rule.matched += 1;
      if (rule.type === 'latency') {
        if (rule.probability !== undefined && this.random() >= rule.probability) continue;
        const min = rule.min_ms ?? rule.ms ?? 0;
        const max = rule.max_ms ?? min;
        latencyMs += min + (max > min ? this.random() * (max - min) : 0);
        rule.applied += 1;
        if (rule.count != null) rule.count -= 1;
        continue;
      }
      if (fault) continue;
      if (rule.type === 'throttle') {
        const key = rule.per_account ? String(ctx.account) : '*';
        let b = rule.buckets.get(key);
        if (!b) { b = { tokens: rule.burst, last: now }; rule.buckets.set(key, b); }
        b.tokens = Math.min(rule.burst, b.tokens + ((now - b.last) / 1000) * rule.rps);
        b.last = now;
        if (b.tokens >= 1) { b.tokens -= 1; continue; }
      } else if (rule.probability !== undefined && this.random() >= rule.probability) {
        continue;
      }
      rule.applied += 1;
      if (rule.count != null) rule.count -= 1;
      fault = rule;
    }
    return { latencyMs, fault };
  }
}

module.exports = { Faults, TYPES };
