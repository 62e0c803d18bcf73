/** The paper portfolio the scale tests trade: half one asset, half cash, starting from cash. */
export const halfCashYaml = (asset: string) => `quote: USDT
classes:
  - { name: ${asset}, target: 50%, band: 5%, assets: [${asset}] }
  - { name: Stablecoins, target: 50%, band: 5%, assets: [USDT], cash: true }
rebalance: { mode: threshold, to: target }
execution: { instrument: spot }
accounts:
  - { name: sim, exchange: paper }
orders: { type: market }
# Each portfolio starts from cash: its first order buys 50% of TPV, above the pre-trade gate's default 25%.
risk: { maxDataAgeSeconds: 3600, maxOrderShare: 60% }
`;
