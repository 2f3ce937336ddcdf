/// The dashboard page: one self-contained HTML document (no external assets) that polls `/status`
/// every second and shows regions, components, leaders and the active region at a glance.
enum Dashboard {
    static let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Switchyard</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        :root { --ok:#1a7f37; --warn:#bf8700; --bad:#cf222e; --unk:#6e7781; --bg:#f6f8fa; --fg:#1f2328; }
        * { box-sizing: border-box; }
        body { margin:0; font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif; background:var(--bg); color:var(--fg); }
        header { display:flex; gap:24px; align-items:baseline; padding:14px 20px; background:#24292f; color:#fff; }
        header h1 { font-size:18px; margin:0; }
        header .meta span { margin-right:18px; }
        .pill { display:inline-block; padding:1px 8px; border-radius:10px; color:#fff; font-weight:600; font-size:12px; }
        .healthy { background:var(--ok); } .suspect { background:var(--warn); } .down { background:var(--bad); } .unknown { background:var(--unk); }
        main { display:grid; grid-template-columns:repeat(auto-fill,minmax(330px,1fr)); gap:16px; padding:20px; }
        .card { background:#fff; border:1px solid #d0d7de; border-radius:8px; padding:14px 16px; }
        .card.active { border:2px solid var(--ok); box-shadow:0 0 0 3px #1a7f3722; }
        .card h2 { margin:0 0 6px; font-size:16px; display:flex; justify-content:space-between; align-items:center; }
        .role { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:#57606a; }
        table { width:100%; border-collapse:collapse; margin-top:8px; }
        td { padding:3px 4px; border-top:1px solid #eaeef2; vertical-align:top; }
        td.k { color:#57606a; width:34%; }
        .err { color:var(--bad); font-size:12px; word-break:break-word; }
        .small { font-size:12px; color:#57606a; }
        #banner { padding:8px 20px; background:#fff8c5; border-bottom:1px solid #d4a72c; display:none; }
        </style></head>
        <body>
        <header><h1>Switchyard</h1><div class="meta">
        <span>active: <b id="active">…</b></span><span>epoch: <b id="epoch">…</b></span>
        <span>observer: <b id="observer">…</b> <span id="selfhealth"></span></span><span id="paused"></span><span class="small" id="generated"></span></div></header>
        <div id="banner"></div>
        <main id="regions"></main>
        <script>
        function ago(t){ if(!t) return "–"; const s=(Date.now()-Date.parse(t))/1000; if(s<90) return Math.max(0,Math.round(s))+" s ago"; if(s<5400) return Math.round(s/60)+" min ago"; return Math.round(s/3600)+" h ago"; }
        function esc(s){ return String(s==null?"":s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c])); }
        function pill(state){ return '<span class="pill '+esc(state)+'">'+esc(state)+'</span>'; }
        function render(s){
          document.getElementById("active").textContent = s.active_region || "none";
          document.getElementById("epoch").textContent = s.epoch;
          document.getElementById("observer").textContent = s.observer;
          const sh = s.self_health;
          document.getElementById("selfhealth").innerHTML = !sh ? "" : (sh.lagging
            ? '<span class="pill suspect" title="'+esc(sh.reason)+'">lagging: casts no down vote</span>'
            : '<span class="small">self-health ok · '+sh.lag_events+' lag windows · '+sh.inconclusive_probes+' inconclusive probes</span>');
          document.getElementById("paused").innerHTML = s.paused ? pill("suspect").replace("suspect","paused") : "";
          document.getElementById("generated").textContent = "updated " + ago(s.generated_at);
          const banner = document.getElementById("banner");
          const f = s.failover_in_progress;
          banner.style.display = (f || !s.control_db_reachable || s.failsafe) ? "block" : "none";
          const fs = s.failsafe ? (s.failsafe.region+" acts on its failsafe lease since "+ago(s.failsafe.since)+", confirmed by "+s.failsafe.confirmed_by.join(", ")) : "";
          banner.textContent = f ? ("Failover "+f.id+" in progress: "+(f.from_region||"?")+" → "+f.to_region+" (step "+f.step+")")
                                 : (!s.control_db_reachable ? "Control database unreachable from this observer"+(s.control_db_unreachable_since?" since "+ago(s.control_db_unreachable_since):"")+(fs?"; "+fs:"; last known state shown")
                                 : (fs ? "Failsafe: "+fs : ""));
          document.getElementById("regions").innerHTML = s.regions.map(r => {
            const comps = Object.keys(r.components).sort().map(k => { const c=r.components[k];
              return '<tr><td class="k">'+esc(k)+'</td><td>'+pill(c.state)+' <span class="small">'+(c.latency_ms!=null?c.latency_ms.toFixed(1)+' ms · ':'')+'since '+ago(c.since)+'</span>'
                + (c.evidence ? ' <span class="small">'+(c.evidence==="positive"?"positive evidence":"silence")+'</span>' : '')
                + (c.last_error && c.state!=="healthy" ? '<div class="err">'+esc(c.last_error)+'</div>' : '') + '</td></tr>'; }).join("");
            const obs = r.observers.map(o => esc(o.observer)+': '+pill(o.health)+(o.evidence?' <span class="small">'+esc(o.evidence)+'</span>':'')
              +(o.live?'':' <span class="small">(stale)</span>')+(o.discounted?'<div class="small">vote not counted: '+esc(o.discounted)+'</div>':'')).join(" ");
            return '<section class="card'+(r.role==="active"?' active':'')+'"><h2><span>'+esc(r.name)+' <span class="role">'+esc(r.role)+' · priority '+r.priority+'</span></span>'+pill(r.health)+'</h2>'
              + '<table>'+comps+'<tr><td class="k">leader</td><td>'+esc(r.scheduler_leader||"none")+(r.scheduler_epoch!=null?' <span class="small">epoch '+r.scheduler_epoch+'</span>':'')+'</td></tr>'
              + '<tr><td class="k">observers</td><td>'+(obs||'<span class="small">none</span>')+'<div class="small">'+r.observers_seeing_down+' of '+r.live_observers+' live observers see it down</div></td></tr></table></section>';
          }).join("");
        }
        async function poll(){ try { const r = await fetch("/status",{cache:"no-store"}); if(r.ok) render(await r.json()); } catch(e) {} setTimeout(poll, 1000); }
        poll();
        </script></body></html>
        """
}
