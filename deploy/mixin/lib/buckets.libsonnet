// Histogram bucket boundaries Cairn exposes (docs/monitoring.md lists the full metric contract).
// Thresholds that become `le` selectors are checked against these lists.
{
  toolCallDuration: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  agentRunDuration: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
  maxSameToolCalls: [1, 2, 3, 5, 8, 13, 21, 34],
  perRun: [0, 1, 2, 3, 5, 8, 13, 21, 34, 55],
  decisionConfidence: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
}
