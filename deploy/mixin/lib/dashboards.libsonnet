// A small Grafana dashboard builder (schema version 39) in plain jsonnet: the mixin renders with a
// bare `jsonnet` binary, without grafonnet.
//
// Invariants the builder guarantees and scripts/check-mixin.sh verifies on the rendered JSON:
//   - every dashboard has a `datasource` template variable of type datasource, and every panel and
//     query uses it (`${datasource}`), so no `${DS_...}` import inputs exist;
//   - panel ids are unique (assigned in layout order) and grid positions do not overlap;
//   - every non-row panel has a description and a unit.
{
  local ds = { type: 'prometheus', uid: '${datasource}' },

  // Template variables ------------------------------------------------------------------------------

  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
  },

  // A multi-value label variable; `All` matches every value with a regex, so queries use `=~"$name"`.
  labelVariable(name, label, metricSelector):: {
    local q = 'label_values(%s, %s)' % [metricSelector, name],
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    definition: q,
    query: { query: q, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 },
    current: {},
    hide: 0,
    includeAll: true,
    allValue: '.*',
    multi: true,
    options: [],
    refresh: 2,
    regex: '',
    sort: 1,
  },

  // Queries -----------------------------------------------------------------------------------------

  target(expr, legend='', instant=false, format='time_series'):: {
    datasource: ds,
    editorMode: 'code',
    expr: expr,
    legendFormat: legend,
    range: !instant,
    instant: instant,
    format: format,
  },

  // Panels ------------------------------------------------------------------------------------------
  // Every panel constructor takes a title, a description, a unit and a list of targets; width and
  // height are grid units (24 columns).

  local base(type, title, description, unit, targets, w, h) = {
    type: type,
    title: title,
    description: description,
    datasource: ds,
    targets: [t { refId: std.char(std.codepoint('A') + i) } for i in std.range(0, std.length(targets) - 1) for t in [targets[i]]],
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    w:: w,
    h:: h,
  },

  timeseries(title, description, unit, targets, w=12, h=8, stack=false, min=null, max=null, thresholds=null)::
    base('timeseries', title, description, unit, targets, w, h) {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'palette-classic' },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: if stack then 60 else 10,
            gradientMode: 'none',
            showPoints: 'never',
            spanNulls: false,
            axisSoftMin: 0,
            stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
            thresholdsStyle: { mode: if thresholds == null then 'off' else 'dashed' },
          },
          [if min != null then 'min']: min,
          [if max != null then 'max']: max,
          thresholds: {
            mode: 'absolute',
            steps: [{ color: 'green', value: null }]
                   + (if thresholds == null then [] else [{ color: 'red', value: t } for t in thresholds]),
          },
        },
      },
      options: {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['mean', 'max', 'lastNotNull'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // A single number (last value). `steps` are threshold steps above the base colour,
  // e.g. [{ color: 'red', value: 0.01 }].
  stat(title, description, unit, targets, w=4, h=4, steps=[], baseColor='green', mappings=[], textMode='auto', decimals=null)::
    base('stat', title, description, unit, targets, w, h) {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'thresholds' },
          thresholds: { mode: 'absolute', steps: [{ color: baseColor, value: null }] + steps },
          mappings: mappings,
          [if decimals != null then 'decimals']: decimals,
        },
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'area',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: textMode,
      },
    },

  // Horizontal bars, one per series (e.g. error budget remaining per agent).
  bargauge(title, description, unit, targets, w=8, h=8, min=0, max=1, steps=[], baseColor='green')::
    base('bargauge', title, description, unit, targets, w, h) {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'thresholds' },
          min: min,
          max: max,
          thresholds: { mode: 'absolute', steps: [{ color: baseColor, value: null }] + steps },
        },
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        displayMode: 'gradient',
        orientation: 'horizontal',
        showUnfilled: true,
        valueMode: 'color',
      },
    },

  // Distribution of a classic histogram over time: one query of per-bucket increases, `le` as legend.
  heatmap(title, description, unit, expr, w=12, h=8)::
    base('heatmap', title, description, unit, [$.target(expr, '{{le}}', format='heatmap')], w, h) {
      options: {
        calculate: false,
        cellGap: 1,
        color: { mode: 'scheme', scheme: 'Oranges', steps: 64, exponent: 0.5, fill: 'dark-orange', reverse: false, scale: 'exponential' },
        filterValues: { le: 1e-9 },
        rowsFrame: { layout: 'auto' },
        tooltip: { mode: 'single', yHistogram: false, showColorScale: false },
        yAxis: { axisPlacement: 'left', reverse: false, unit: unit },
        legend: { show: true },
        exemplars: { color: 'rgba(255,0,255,0.7)' },
        showValue: 'never',
      },
    },

  // Layout ------------------------------------------------------------------------------------------

  // rows: [{ title: '...', panels: [...] }]. Panels flow left to right and wrap at 24 columns; each
  // row gets a row header. Ids are assigned in order, so they are unique by construction.
  local layout(rows) =
    local place(acc, p) =
      local wrap = acc.x + p.w > 24;
      local x = if wrap then 0 else acc.x;
      local y = if wrap then acc.y + acc.rowH else acc.y;
      {
        x: x + p.w,
        y: y,
        rowH: if wrap then p.h else std.max(acc.rowH, p.h),
        out: acc.out + [p { gridPos: { x: x, y: y, w: p.w, h: p.h } }],
      };
    local addRow(acc, r) =
      local header = {
        type: 'row',
        title: r.title,
        collapsed: false,
        panels: [],
        gridPos: { x: 0, y: acc.y, w: 24, h: 1 },
      };
      local placed = std.foldl(place, r.panels, { x: 0, y: acc.y + 1, rowH: 0, out: [] });
      { y: placed.y + placed.rowH, out: acc.out + [header] + placed.out };
    local flat = std.foldl(addRow, rows, { y: 0, out: [] }).out;
    [flat[i] { id: i + 1 } for i in std.range(0, std.length(flat) - 1)],

  dashboard(cfg, uid, title, description, rows, variables=[]):: {
    uid: cfg.dashboardUidPrefix + uid,
    title: title,
    description: description,
    tags: cfg.dashboardTags,
    timezone: cfg.dashboardTimezone,
    refresh: cfg.dashboardRefresh,
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    links: [
      {
        title: 'Cairn dashboards',
        type: 'dashboards',
        tags: cfg.dashboardTags,
        asDropdown: true,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
        tooltip: '',
        url: '',
      },
    ],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    templating: { list: [$.datasourceVariable] + variables },
    panels: layout(rows),
  },
}
