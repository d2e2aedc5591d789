// The console's words: 简体中文 first, English second. `t(key, values)` fills {name}s.

const LANG = "gongji.lang";

const WORDS = {
  zh: {
    "lang.switch": "English", "lang.name": "简体中文",
    "signin.title": "登录", "signin.token": "访问令牌（Bearer token）", "signin.submit": "登录",
    "signin.refused": "令牌无效，已拒绝。", "signin.note": "令牌只保存在本浏览器会话中，关闭标签页即清除。",
    "signout": "退出",
    "role.operator": "运营方", "role.channel": "服务渠道", "role.institution": "定点机构", "role.auditor": "审计员",
    "view.account": "账户", "view.settlement": "结算", "view.audit": "审计", "view.operations": "运维",
    "forbidden": "此令牌无权查看此内容。", "not_found": "未找到。", "error": "出错了：{message}",
    "loading": "加载中…", "show": "查询", "none": "无",
    "account.person": "人员编号", "account.title": "个人账户 {person}",
    "account.current": "当年账户", "account.historic": "历年账户", "account.held": "冻结", "account.available": "可用余额",
    "account.asof": "截至事件 #{seq}（{time}）", "account.now": "回到当前",
    "account.slider": "时间点（按事件）", "account.picker": "指定时间", "account.picker.apply": "按时间查看",
    "account.chart": "可用余额变化", "account.events": "变动事件",
    "account.seq": "序号", "account.time": "记录时间", "account.kind": "事件", "account.change": "变动",
    "account.truncated": "只显示最近 1000 条。", "account.resident": "居民医保参保人没有个人账户。",
    "bindings.title": "家庭共济绑定", "bindings.authorizer": "作为授权人", "bindings.beneficiary": "作为受益人",
    "bindings.id": "绑定", "bindings.other": "对方", "bindings.relation": "关系", "bindings.status": "状态",
    "bindings.priority": "优先级", "bindings.month": "月度限额使用", "bindings.year": "年度限额使用",
    "bindings.nolimit": "不限（已用 {used}）", "bindings.usage": "已用 {used} / 限额 {limit}",
    "relation.spouse": "配偶", "relation.parent": "父母", "relation.child": "子女", "relation.grandparent": "祖父母",
    "relation.grandchild": "孙子女", "relation.sibling": "兄弟姐妹",
    "status.pending": "待审核", "status.active": "生效", "status.rejected": "已驳回", "status.revoked": "已撤销", "status.ended": "已终止",
    "settlement.id": "结算编号", "settlement.title": "结算 {id}",
    "settlement.institution": "机构", "settlement.beneficiary": "就医人", "settlement.category": "类别",
    "settlement.amount": "个人负担金额", "settlement.status": "状态", "settlement.rules": "规则版本",
    "settlement.list": "结算列表", "settlement.occurred": "发生时间",
    "settlement.split": "支付去向", "settlement.explain": "为什么这样支付", "settlement.timeline": "冻结、扣款与退款",
    "split.own": "本人账户 {account}", "split.family": "家庭账户 {account}", "split.pocket": "个人现金自付",
    "explain.line": "{who}：支付 ¥{paid} — {reason}", "explain.nobody": "家庭共济",
    "category.outpatient": "普通门诊", "category.chronic_outpatient": "门诊慢特病", "category.pharmacy": "定点药店购药",
    "category.medical_device": "医疗器械", "category.medical_consumable": "医用耗材", "category.inpatient": "住院",
    "sstatus.held": "已冻结", "sstatus.settled": "已结算", "sstatus.voided": "已撤销", "sstatus.expired": "已过期",
    "timeline.held": "冻结 ¥{amount}（{time}）", "timeline.settled": "结算 ¥{amount}（{time}）",
    "timeline.expires": "冻结到期时间 {time}", "timeline.captured": "扣款 ¥{amount}",
    "timeline.voided": "冻结已撤销，资金释放", "timeline.expired": "冻结已过期，资金释放",
    "timeline.refund": "退款 {id}：¥{amount}（{reason}，事件 #{seq}）",
    "reason.paid": "在本账户可付范围内付清了剩余部分",
    "reason.category_not_for_own": "该费用类别不能由本人个人账户支付",
    "reason.own_balance_exhausted": "本人账户余额已用尽，剩余部分转由家庭账户支付",
    "reason.category_not_for_family": "该费用类别不允许使用家庭共济支付",
    "reason.authorizer_suspended": "授权人账户已暂停，不能支付",
    "reason.authorizer_terminated": "授权人已终止参保，绑定已结束",
    "reason.binding_revoked": "家庭共济绑定已撤销",
    "reason.bucket_not_for_family": "授权人的余额在规则不开放给共济的账户部分",
    "reason.family_balance_exhausted": "授权人账户可用于共济的余额已用尽",
    "reason.monthly_limit_reached": "已达到该绑定的月度限额",
    "reason.annual_limit_reached": "已达到该绑定的年度限额",
    "reason.family_account_already_used": "本次结算可使用的家庭账户数量已满",
    "reason.no_binding": "就医人没有生效的家庭共济绑定",
    "audit.verify": "校验哈希链", "audit.ok": "校验通过", "audit.broken": "哈希链断裂于 #{seq}：{reason}",
    "audit.ledger": "账本编号", "audit.head": "最新序号", "audit.hash": "最新哈希",
    "audit.events": "事件日志", "audit.kind": "事件类型", "audit.allkinds": "全部类型", "audit.person": "人员编号",
    "audit.filter": "筛选", "audit.first": "第一页", "audit.next": "下一页",
    "audit.page": "已查看至 #{next}，日志共 {head} 条", "audit.prev": "上一事件 #{seq}",
    "audit.link": "哈希链：上一哈希 {prev} → 本事件哈希 {hash}", "audit.request": "请求",
    "ops.rules": "各统筹区规则版本", "ops.region": "统筹区", "ops.left": "版本 A", "ops.right": "版本 B",
    "ops.field": "参数", "ops.differs": "不同", "ops.projections": "投影状态", "ops.projection": "投影",
    "ops.state": "状态", "ops.progress": "进度", "ops.depends": "依赖的规则参数", "ops.changes": "影响它的规则变更",
    "ops.change": "{region} v{version}：{parameters}", "ops.rebuild": "重建投影",
    "ops.dryrun": "试运行（只比较）", "ops.swap": "重建并替换", "ops.needdry": "先试运行，查看差异后再重建。",
    "ops.diff": "差异", "ops.accounts": "账户变化", "ops.bindingsChanged": "绑定变化", "ops.settlements": "结算变化",
    "ops.first": "最先发现的差异", "ops.nodiff": "与当前投影完全一致。", "ops.swapped": "已替换为重建结果。",
    "ops.publisher": "发布与 NATS", "ops.lag": "待发布事件", "ops.lagSeconds": "最早未发布事件等待（秒）",
    "ops.published": "已确认发布", "ops.headseq": "日志最新序号", "ops.nats": "NATS 连接",
    "ops.nats.up": "已连接", "ops.nats.down": "未连接（未配置 NATS，或正在重连）", "ops.refresh": "刷新",
    "rstate.idle": "空闲", "rstate.running": "运行中", "rstate.done": "完成", "rstate.failed": "失败",
    "kind.rules_published": "发布规则", "kind.institution_registered": "登记机构", "kind.person_registered": "登记参保人",
    "kind.person_status_changed": "参保状态变更", "kind.binding_ended": "绑定终止", "kind.credited": "划入",
    "kind.year_closed": "年终结转", "kind.binding_requested": "申请绑定", "kind.binding_approved": "绑定通过",
    "kind.binding_rejected": "绑定驳回", "kind.binding_revoked": "绑定撤销", "kind.authorization_set": "设置授权",
    "kind.settled": "结算", "kind.held": "冻结", "kind.captured": "扣款", "kind.voided": "撤销冻结",
    "kind.expired": "冻结过期", "kind.refunded": "退款", "kind.premium_paid": "代缴居民医保费",
  },
  en: {
    "lang.switch": "简体中文", "lang.name": "English",
    "signin.title": "Sign in", "signin.token": "Access token (bearer)", "signin.submit": "Sign in",
    "signin.refused": "The token was refused.", "signin.note": "The token is kept for this browser session only; closing the tab forgets it.",
    "signout": "Sign out",
    "role.operator": "operator", "role.channel": "channel", "role.institution": "institution", "role.auditor": "auditor",
    "view.account": "Account", "view.settlement": "Settlement", "view.audit": "Audit", "view.operations": "Operations",
    "forbidden": "This token may not see this.", "not_found": "Not found.", "error": "Something went wrong: {message}",
    "loading": "Loading…", "show": "Show", "none": "none",
    "account.person": "Person id", "account.title": "Personal account {person}",
    "account.current": "Current year", "account.historic": "Historic", "account.held": "Held", "account.available": "Available",
    "account.asof": "As of event #{seq} ({time})", "account.now": "Back to now",
    "account.slider": "Point in time (by event)", "account.picker": "At a time", "account.picker.apply": "Show at time",
    "account.chart": "Available balance over time", "account.events": "Events that moved it",
    "account.seq": "Seq", "account.time": "Recorded at", "account.kind": "Event", "account.change": "Change",
    "account.truncated": "Only the latest 1000 are shown.", "account.resident": "A resident has no personal account.",
    "bindings.title": "Family bindings", "bindings.authorizer": "As authorizer", "bindings.beneficiary": "As beneficiary",
    "bindings.id": "Binding", "bindings.other": "Other party", "bindings.relation": "Relation", "bindings.status": "Status",
    "bindings.priority": "Priority", "bindings.month": "Monthly limit used", "bindings.year": "Annual limit used",
    "bindings.nolimit": "no limit ({used} used)", "bindings.usage": "{used} used of {limit}",
    "relation.spouse": "spouse", "relation.parent": "parent", "relation.child": "child", "relation.grandparent": "grandparent",
    "relation.grandchild": "grandchild", "relation.sibling": "sibling",
    "status.pending": "pending", "status.active": "active", "status.rejected": "rejected", "status.revoked": "revoked", "status.ended": "ended",
    "settlement.id": "Settlement id", "settlement.title": "Settlement {id}",
    "settlement.institution": "Institution", "settlement.beneficiary": "Beneficiary", "settlement.category": "Category",
    "settlement.amount": "Personal burden", "settlement.status": "Status", "settlement.rules": "Rule version",
    "settlement.list": "Settlements", "settlement.occurred": "Occurred at",
    "settlement.split": "Who paid", "settlement.explain": "Why each account paid what it paid", "settlement.timeline": "Holds, captures and refunds",
    "split.own": "own account {account}", "split.family": "family account {account}", "split.pocket": "out of pocket",
    "explain.line": "{who}: paid ¥{paid} — {reason}", "explain.nobody": "family aid",
    "category.outpatient": "outpatient", "category.chronic_outpatient": "chronic outpatient", "category.pharmacy": "pharmacy",
    "category.medical_device": "medical device", "category.medical_consumable": "medical consumable", "category.inpatient": "inpatient",
    "sstatus.held": "held", "sstatus.settled": "settled", "sstatus.voided": "voided", "sstatus.expired": "expired",
    "timeline.held": "held ¥{amount} ({time})", "timeline.settled": "settled ¥{amount} ({time})",
    "timeline.expires": "the hold expires at {time}", "timeline.captured": "captured ¥{amount}",
    "timeline.voided": "the hold was voided, the money released", "timeline.expired": "the hold expired, the money released",
    "timeline.refund": "refund {id}: ¥{amount} ({reason}, event #{seq})",
    "reason.paid": "paid what was left, within what it could pay",
    "reason.category_not_for_own": "this category may not be paid from one's own account",
    "reason.own_balance_exhausted": "the own balance ran out; the rest went to family accounts",
    "reason.category_not_for_family": "this category may not be paid by family accounts",
    "reason.authorizer_suspended": "the authorizer's account is suspended",
    "reason.authorizer_terminated": "the authorizer was terminated; the binding ended",
    "reason.binding_revoked": "the family binding was revoked",
    "reason.bucket_not_for_family": "the authorizer's money is in a bucket the rules do not open to family",
    "reason.family_balance_exhausted": "the authorizer's balance open to family ran out",
    "reason.monthly_limit_reached": "the binding's monthly limit was reached",
    "reason.annual_limit_reached": "the binding's annual limit was reached",
    "reason.family_account_already_used": "as many family accounts as one settlement may use were already used",
    "reason.no_binding": "the beneficiary has no active family binding",
    "audit.verify": "Verify the hash chain", "audit.ok": "Verified", "audit.broken": "The chain breaks at #{seq}: {reason}",
    "audit.ledger": "Ledger id", "audit.head": "Head seq", "audit.hash": "Head hash",
    "audit.events": "Event log", "audit.kind": "Kind", "audit.allkinds": "all kinds", "audit.person": "Person id",
    "audit.filter": "Filter", "audit.first": "First page", "audit.next": "Next page",
    "audit.page": "Looked up to #{next} of {head} events", "audit.prev": "Previous event #{seq}",
    "audit.link": "Hash link: previous hash {prev} → this event's hash {hash}", "audit.request": "Request",
    "ops.rules": "Rule versions by region", "ops.region": "Region", "ops.left": "Version A", "ops.right": "Version B",
    "ops.field": "Parameter", "ops.differs": "differs", "ops.projections": "Projections", "ops.projection": "Projection",
    "ops.state": "State", "ops.progress": "Progress", "ops.depends": "Rule parameters it depends on", "ops.changes": "Rule changes that touched it",
    "ops.change": "{region} v{version}: {parameters}", "ops.rebuild": "Rebuild a projection",
    "ops.dryrun": "Dry run (compare only)", "ops.swap": "Rebuild and swap", "ops.needdry": "Dry-run first, read the diff, then rebuild.",
    "ops.diff": "Diff", "ops.accounts": "Accounts changed", "ops.bindingsChanged": "Bindings changed", "ops.settlements": "Settlements changed",
    "ops.first": "First differences found", "ops.nodiff": "Identical to the live projection.", "ops.swapped": "Swapped in.",
    "ops.publisher": "Publisher and NATS", "ops.lag": "Events waiting to be published", "ops.lagSeconds": "Oldest unpublished event's wait (s)",
    "ops.published": "Published (acknowledged)", "ops.headseq": "Log head seq", "ops.nats": "NATS connection",
    "ops.nats.up": "connected", "ops.nats.down": "not connected (no NATS URL, or reconnecting)", "ops.refresh": "Refresh",
    "rstate.idle": "idle", "rstate.running": "running", "rstate.done": "done", "rstate.failed": "failed",
  },
};

export function lang() {
  return localStorage.getItem(LANG) === "en" ? "en" : "zh";
}

export function setLang(next) {
  localStorage.setItem(LANG, next);
  document.documentElement.lang = next === "en" ? "en" : "zh-CN";
}

export function t(key, values = {}) {
  const text = WORDS[lang()][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

// A settlement's explain reason in words (`null`: the account paid what was left).
export const reason = (code) => t(`reason.${code ?? "paid"}`);

// An event kind: in Chinese, its name in words and then its code; in English, its code.
export function kind(code) {
  const words = WORDS.zh[`kind.${code}`];
  return lang() === "en" || !words ? code : `${words}（${code}）`;
}

// A time as the reader reads it: +08:00, to the second.
export function time(rfc3339) {
  if (!rfc3339) return "";
  const date = new Date(rfc3339);
  const china = new Date(date.getTime() + 8 * 3600 * 1000).toISOString();
  return `${china.slice(0, 10)} ${china.slice(11, 19)}`;
}
