// A virtualized list: only the rows in (and just around) the viewport exist in the DOM, so a run
// with 100,000 spans costs the same to scroll as one with 100.
//
// Rows have a fixed height. A spacer gives the scroll container its full height; a small pool of
// absolutely positioned row elements is re-bound to whatever indexes are visible.

export class VirtualList {
  /**
   * @param {HTMLElement} viewport the scroll container (overflow: auto, fixed height)
   * @param {object} options
   * @param {number} options.rowHeight row height in CSS pixels
   * @param {() => HTMLElement} options.createRow makes an empty row element
   * @param {(el: HTMLElement, item: any, index: number) => void} options.renderRow binds a row
   * @param {number} [options.overscan] extra rows above and below the viewport
   */
  constructor(viewport, { rowHeight, createRow, renderRow, overscan = 8 }) {
    this.viewport = viewport;
    this.rowHeight = rowHeight;
    this.createRow = createRow;
    this.renderRow = renderRow;
    this.overscan = overscan;
    this.items = [];
    this.pool = [];
    this.spacer = document.createElement('div');
    this.spacer.className = 'vlist-spacer';
    this.spacer.style.position = 'relative';
    viewport.appendChild(this.spacer);
    this.frame = 0;
    this.onScroll = () => this.schedule();
    viewport.addEventListener('scroll', this.onScroll, { passive: true });
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(viewport);
  }

  /** Replaces the items, keeping the scroll position, and renders synchronously. */
  setItems(items) {
    this.items = items;
    this.spacer.style.height = `${items.length * this.rowHeight}px`;
    this.render();
  }

  /** Re-binds the visible rows (e.g. after the selection changed). */
  refresh() {
    this.render();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Scrolls the least amount that makes row `index` fully visible. */
  scrollToIndex(index, align = 'nearest') {
    if (index < 0 || index >= this.items.length) return;
    const top = index * this.rowHeight;
    const height = this.viewport.clientHeight;
    const current = this.viewport.scrollTop;
    if (align === 'center') {
      this.viewport.scrollTop = Math.max(0, top - (height - this.rowHeight) / 2);
    } else if (top < current) {
      this.viewport.scrollTop = top;
    } else if (top + this.rowHeight > current + height) {
      this.viewport.scrollTop = top + this.rowHeight - height;
    }
    this.render();
  }

  /** Index range currently rendered, for tests and keyboard paging. */
  visibleRange() {
    const first = Math.floor(this.viewport.scrollTop / this.rowHeight);
    const count = Math.ceil(this.viewport.clientHeight / this.rowHeight);
    return [first, Math.min(this.items.length, first + count)];
  }

  render() {
    const total = this.items.length;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / this.rowHeight) - this.overscan);
    const last = Math.min(total, Math.ceil((this.viewport.scrollTop + height) / this.rowHeight) + this.overscan);
    const needed = Math.max(0, last - first);
    while (this.pool.length < needed) {
      const el = this.createRow();
      el.style.position = 'absolute';
      el.style.left = '0';
      el.style.right = '0';
      el.style.height = `${this.rowHeight}px`;
      this.spacer.appendChild(el);
      this.pool.push(el);
    }
    for (let k = 0; k < this.pool.length; k++) {
      const el = this.pool[k];
      if (k >= needed) {
        el.hidden = true;
        continue;
      }
      const index = first + k;
      el.hidden = false;
      el.style.transform = `translateY(${index * this.rowHeight}px)`;
      this.renderRow(el, this.items[index], index);
    }
  }

  /** Stops listening; the caller removes the viewport. */
  destroy() {
    this.viewport.removeEventListener('scroll', this.onScroll);
    this.resize.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}
