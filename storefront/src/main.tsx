import { createRoot } from "react-dom/client";
import { App } from "./App";
import { restoreSession } from "./state";
import "./styles.css";

void restoreSession();
createRoot(document.getElementById("root")!).render(<App />);
